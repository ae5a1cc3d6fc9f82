"""The downloader and checkpoint-name resolution, against a local HTTP server on 127.0.0.1.

The server supports ``Range`` (or ignores it, or drops the connection half way, on demand) and
records every request, so the tests can prove what went over the wire.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
from pathlib import Path

import pytest
from tests.local_http import FileServer

from helpers.download.http_download import ChecksumError, DownloadError, download, sha256_file
from helpers.eg3d.checkpoints import published as registry
from helpers.eg3d.checkpoints.checkpoint_files import read_checkpoint
from helpers.eg3d.checkpoints.safe_unpickle import CheckpointError

PAYLOAD = bytes(range(256)) * 12_000  # 3 MB: several 1 MiB chunks
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def weights_file(server: FileServer) -> None:
    server.files["weights.bin"] = PAYLOAD


# --------------------------------------------------------------------------------- download
def test_download_into_cache_records_sha256(server: FileServer, cache: Path) -> None:
    path = download(server.url("weights.bin"), progress=False)
    assert path == cache / "weights.bin" and path.read_bytes() == PAYLOAD
    record = json.loads((cache / "weights.bin.json").read_text())
    assert record["sha256"] == PAYLOAD_SHA and record["size"] == len(PAYLOAD)
    assert record["url"] == server.url("weights.bin")
    assert not (cache / "weights.bin.part").exists()


def test_cache_hit_sends_no_request(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "models" / "w.bin"
    download(server.url("weights.bin"), dest, sha256=PAYLOAD_SHA, size=len(PAYLOAD), progress=False)
    download(server.url("weights.bin"), progress=False)  # into the cache, no checksum known
    assert len(server.requests) == 2
    server.status = 500  # any request from now on would fail
    assert download(server.url("weights.bin"), dest, sha256=PAYLOAD_SHA, progress=False) == dest
    assert download(server.url("weights.bin"), progress=False).read_bytes() == PAYLOAD  # via the sidecar
    assert len(server.requests) == 2


def test_interrupted_transfer_resumes_with_only_the_remainder(server: FileServer, cache: Path) -> None:
    half = len(PAYLOAD) // 2
    server.drop_after = half
    with pytest.raises(DownloadError, match="interrupted.*run again to resume"):
        download(server.url("weights.bin"), retries=0, progress=False)
    assert (cache / "weights.bin.part").stat().st_size == half
    assert not (cache / "weights.bin").exists()  # nothing under the final name
    path = download(server.url("weights.bin"), sha256=PAYLOAD_SHA, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert [(r.range, r.sent) for r in server.requests] == [(None, half), (f"bytes={half}-", len(PAYLOAD) - half)]


def test_interruption_is_retried_within_one_call(server: FileServer) -> None:
    server.drop_after = 1_000_000
    path = download(server.url("weights.bin"), progress=False, retries=1)
    assert sha256_file(path) == PAYLOAD_SHA
    assert [r.range for r in server.requests] == [None, "bytes=1000000-"]


def test_server_ignoring_range_restarts_from_zero(server: FileServer, cache: Path) -> None:
    cache.mkdir()
    (cache / "weights.bin.part").write_bytes(b"stale bytes that are not a prefix")
    server.honour_range = False
    path = download(server.url("weights.bin"), sha256=PAYLOAD_SHA, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.requests[0].range == "bytes=33-" and server.requests[0].sent == len(PAYLOAD)


def test_complete_part_is_finished_without_a_body(server: FileServer, cache: Path) -> None:
    cache.mkdir()
    (cache / "weights.bin.part").write_bytes(PAYLOAD)  # e.g. killed just before the rename
    assert download(server.url("weights.bin"), progress=False).read_bytes() == PAYLOAD
    assert [(r.range, r.sent) for r in server.requests] == [(f"bytes={len(PAYLOAD)}-", 0)]


def test_checksum_mismatch_leaves_no_file(server: FileServer, cache: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(ChecksumError, match=f"expected {wrong}, got {PAYLOAD_SHA}"):
        download(server.url("weights.bin"), sha256=wrong, progress=False)
    assert list(cache.iterdir()) == []  # no final file, no .part
    with pytest.raises(ChecksumError, match=f"expected 123 bytes, got {len(PAYLOAD)}"):
        download(server.url("weights.bin"), size=123, progress=False)
    assert not (cache / "weights.bin").exists()


def test_corrupt_cached_file_is_downloaded_again(server: FileServer) -> None:
    path = download(server.url("weights.bin"), progress=False)
    path.write_bytes(b"bit rot" + PAYLOAD[7:])
    with pytest.warns(UserWarning, match="corrupt"):
        again = download(server.url("weights.bin"), progress=False)
    assert again.read_bytes() == PAYLOAD and len(server.requests) == 2


def test_http_errors_name_status_and_url(server: FileServer) -> None:
    url = server.url("missing.bin")
    with pytest.raises(DownloadError, match=f"HTTP 404 .* for {url}"):
        download(url, progress=False)
    server.status = 503
    with pytest.raises(DownloadError, match="HTTP 503"):
        download(server.url("weights.bin"), progress=False)


def test_unreachable_server_and_unwritable_folder(tmp_path: Path, server: FileServer) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="could not reach"):
        download(f"http://127.0.0.1:{port}/x.bin", progress=False, timeout=5)
    with pytest.raises(DownloadError, match="invalid URL"):
        download("no-scheme/weights.bin", tmp_path / "w.bin", progress=False)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError, match="cannot create folder"):
        download(server.url("weights.bin"), blocker / "sub" / "w.bin", progress=False)


def test_html_answer_is_refused_when_asked(server: FileServer, cache: Path) -> None:
    server.content_type = "text/html; charset=utf-8"
    with pytest.raises(DownloadError, match="web page instead of the file"):
        download(server.url("weights.bin"), progress=False, reject_html=True)
    assert not (cache / "weights.bin").exists()


def test_progress_bar_is_shown(server: FileServer, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    download(server.url("weights.bin"), progress=True)
    err = capsys.readouterr().err
    assert "weights.bin" in err and "100%" in err and "2.93M/2.93M" in err
    download(server.url("weights.bin"), tmp_path / "quiet.bin", progress=False)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------------- registry
@pytest.fixture
def local_registry(server: FileServer, monkeypatch: pytest.MonkeyPatch, eg3d_reference: Path):
    """Point two registry entries at the test server."""
    server.files["tiny.pkl"] = (eg3d_reference / "eg3d_tiny.pkl").read_bytes()
    ngc = dataclasses.replace(registry.REGISTRY["ffhq512-128"], urls=(server.url("gone.pkl"), server.url("tiny.pkl")))
    drive = dataclasses.replace(registry.REGISTRY["lpff-var1-128"], urls=(server.url("tiny.pkl"),))
    monkeypatch.setitem(registry.REGISTRY, "ffhq512-128", ngc)
    monkeypatch.setitem(registry.REGISTRY, "lpff-var1-128", drive)
    return server


def test_resolve_downloads_by_name_and_reads(local_registry: FileServer, tmp_path: Path) -> None:
    path = registry.resolve("ffhq512-128", cache_dir=tmp_path / "c", progress=False)
    assert path == tmp_path / "c" / "eg3d" / "ffhq512-128.pkl"
    assert read_checkpoint(path).neural_rendering_resolution == 128
    assert [r.path for r in local_registry.requests] == ["/gone.pkl", "/tiny.pkl"]  # 404, then the mirror
    assert registry.resolve("FFHQ512-128.pkl", cache_dir=tmp_path / "c", progress=False) == path
    assert len(local_registry.requests) == 2  # cached


def test_resolve_google_drive_html_page_explains(local_registry: FileServer, tmp_path: Path) -> None:
    local_registry.content_type = "text/html"
    with pytest.raises(DownloadError, match="web page.*drive.google.com/file/d/1zF_NzBujZwknBkABApcB_lB5usDpvywA"):
        registry.resolve("lpff-var1-128", cache_dir=tmp_path, progress=False)


def test_resolve_paths_and_unknown_names(tmp_path: Path, server: FileServer) -> None:
    existing = tmp_path / "mine.pkl"
    existing.write_bytes(b"x")
    assert registry.resolve(existing) == existing and registry.resolve(str(existing)) == existing
    with pytest.raises(CheckpointError, match="does not exist"):
        registry.resolve(tmp_path / "missing.pkl")
    with pytest.raises(CheckpointError, match="unknown checkpoint name 'ffhq1024'.*ffhq512-128.*lpff-var3-128"):
        registry.resolve("ffhq1024")
    assert server.requests == []


def test_registry_entries_are_complete() -> None:
    names = registry.known_names()
    for name in ("ffhq512-64", "ffhq512-128", "ffhqrebalanced512-64", "ffhqrebalanced512-128",
                 "afhqcats512-128", "shapenetcars128-64", "lpff-var1-128", "lpff-var2-128", "lpff-var3-128"):
        entry = registry.get_entry(name)
        assert name in names and entry.urls[0].startswith("https://") and entry.licence and entry.config
        assert entry.config["neural_rendering_resolution"] == int(name.rsplit("-", 1)[1])
    shapenet, var3 = registry.get_entry("shapenetcars128-64").config, registry.get_entry("lpff-var3-64").config
    assert shapenet and shapenet["rendering_kwargs"]["box_warp"] == 1.6
    assert var3 and var3["rendering_kwargs"]["c_gen_conditioning_avg"] is True
