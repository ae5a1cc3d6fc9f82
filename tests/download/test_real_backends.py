"""The real ``gdown`` and ``kaggle`` packages (the ``datasets`` extra), driven by the fetcher as far as a server on
this machine allows: each one is imported and called with what the fetcher passes, its request reaches the local
server, and the server's refusal comes back as the fetcher's own error, naming what to do. (The fakes in
``test_fetch.py`` cover what happens after a successful transfer.)"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.download.fetcher import fetch
from helpers.download.http_download import DownloadError
from helpers.download.sources import GoogleDriveSource, KaggleSource


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request, proxy CONNECTs included, with 403 and records its first line."""

    seen: list[str] = []

    def _refuse(self) -> None:
        self.seen.append(self.requestline)
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_CONNECT = do_GET = do_POST = _refuse

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- the base class's name
        pass


@contextlib.contextmanager
def _serve() -> Iterator[http.server.ThreadingHTTPServer]:
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[http.server.ThreadingHTTPServer]:
    """A local server set as every HTTP(S) proxy: nothing leaves this machine."""
    with _serve() as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.setenv(name, url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        yield server


def test_real_gdown_asks_drive_for_the_file_and_its_refusal_names_the_way_out(proxy, tmp_path: Path) -> None:
    source = GoogleDriveSource(file_id="1AbCdEfGhIjKlMnOpQrStUvWxYz", filename="weights.pt")
    with pytest.raises(DownloadError, match="download it by hand"):
        fetch(source, tmp_path / "out", progress=False)
    assert any("drive.google.com" in line for line in _Recorder.seen), _Recorder.seen
    assert not list((tmp_path / "out").rglob("weights.pt"))


def test_real_kaggle_sends_the_dataset_request_and_its_refusal_says_what_to_check(
        proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle"))
    with pytest.raises(DownloadError, match="Kaggle download of owner/some-faces failed.*403: open"):
        fetch(KaggleSource("owner/some-faces"), tmp_path / "out", progress=False)
    assert any("kaggle.com" in line for line in _Recorder.seen), _Recorder.seen
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.zip"))
