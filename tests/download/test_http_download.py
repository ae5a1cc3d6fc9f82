"""The downloader and checkpoint-name resolution, against a local HTTP server on 127.0.0.1.

The server (tests/local_http.py) answers ``Range`` and ``If-Range`` with ETag and Last-Modified as a real one does
(or ignores them, drops the connection half way, or changes a file between attempts, on demand) and records every
request, so the tests can prove what went over the wire.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
from pathlib import Path

import pytest
from tests.local_http import FileServer

from helpers.download.http_download import ChecksumError, DownloadError, download, remove_download, sha256_file
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
    half = len(PAYLOAD) // 2
    server.drop_after = half
    with pytest.raises(DownloadError, match="interrupted"):
        download(server.url("weights.bin"), retries=0, progress=False)
    server.honour_range = False
    path = download(server.url("weights.bin"), sha256=PAYLOAD_SHA, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert [(r.range, r.status, r.sent) for r in server.requests[1:]] == [(f"bytes={half}-", 200, len(PAYLOAD))]


def test_complete_part_is_finished_without_a_request(server: FileServer, cache: Path) -> None:
    half = len(PAYLOAD) // 2
    server.drop_after = half
    with pytest.raises(DownloadError, match="interrupted"):
        download(server.url("weights.bin"), retries=0, progress=False)
    with open(cache / "weights.bin.part", "ab") as part:  # the rest arrived, then the process was killed before
        part.write(PAYLOAD[half:])                          # the rename
    assert download(server.url("weights.bin"), progress=False).read_bytes() == PAYLOAD
    assert len(server.requests) == 1  # the length recorded with the validator says it is complete
    assert sorted(p.name for p in cache.iterdir()) == ["weights.bin", "weights.bin.json"]


def test_complete_part_of_unknown_length_is_confirmed_by_a_416(server: FileServer, cache: Path) -> None:
    half = len(PAYLOAD) // 2
    server.drop_after = half
    with pytest.raises(DownloadError, match="interrupted"):
        download(server.url("weights.bin"), retries=0, progress=False)
    record = cache / "weights.bin.part.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "total": None}))  # no Content-Length was sent
    with open(cache / "weights.bin.part", "ab") as part:
        part.write(PAYLOAD[half:])
    assert download(server.url("weights.bin"), progress=False).read_bytes() == PAYLOAD
    assert [(r.range, r.if_range, r.status) for r in server.requests[1:]] == [
        (f"bytes={len(PAYLOAD)}-", server.etag("weights.bin"), 416)]


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


# --------------------------------------------------------------------------------- a file that changes on the server
CHANGED = {"same length": PAYLOAD[::-1], "longer": PAYLOAD[::-1] + b"version B" * 10_000,
           "shorter": PAYLOAD[:1_000_000]}


def interrupt_half_way(server: FileServer, cache: Path) -> int:
    """Download weights.bin until the server drops the connection half way; return the bytes kept in the .part."""
    half = len(PAYLOAD) // 2
    server.drop_after = half
    with pytest.raises(DownloadError, match="interrupted"):
        download(server.url("weights.bin"), retries=0, progress=False)
    assert (cache / "weights.bin.part").stat().st_size == half
    return half


@pytest.mark.parametrize("new", CHANGED.values(), ids=CHANGED.keys())
def test_resume_of_a_changed_file_starts_over_never_splices(server: FileServer, cache: Path, new: bytes) -> None:
    half = interrupt_half_way(server, cache)
    etag_a = server.etag("weights.bin")
    server.files["weights.bin"] = new  # a new version on the server between two attempts
    path = download(server.url("weights.bin"), progress=False)  # no sha256 known, as for the EG3D checkpoints
    assert path.read_bytes() == new
    resume = server.requests[1]  # If-Range sent, and the server's 200 (whole file) restarted it
    assert (resume.range, resume.if_range, resume.status, resume.sent) == (f"bytes={half}-", etag_a, 200, len(new))
    record = json.loads((cache / "weights.bin.json").read_text())
    assert record["sha256"] == hashlib.sha256(new).hexdigest() and record["size"] == len(new)
    assert record["etag"] == server.etag("weights.bin") and not (cache / "weights.bin.part.json").exists()


def test_change_between_retries_of_one_call_starts_over(server: FileServer) -> None:
    new = CHANGED["same length"]
    server.drop_after, server.replace_after_drop = 1_000_000, {"weights.bin": new}
    path = download(server.url("weights.bin"), progress=False, retries=1)
    assert path.read_bytes() == new
    assert [(r.range, r.status) for r in server.requests] == [(None, 200), ("bytes=1000000-", 200)]


def test_unchanged_file_resumes_with_if_range(server: FileServer, cache: Path) -> None:
    half = interrupt_half_way(server, cache)
    kept = json.loads((cache / "weights.bin.part.json").read_text())  # the validator is kept with the bytes
    assert (kept["url"], kept["etag"], kept["total"]) == (server.url("weights.bin"), server.etag("weights.bin"),
                                                          len(PAYLOAD))
    assert download(server.url("weights.bin"), progress=False).read_bytes() == PAYLOAD
    resume = server.requests[1]
    assert (resume.if_range, resume.status, resume.sent) == (server.etag("weights.bin"), 206, len(PAYLOAD) - half)


@pytest.mark.parametrize(("validators", "sent"), [
    (("weak-etag", "last-modified"), "last-modified"),  # a weak ETag cannot be used with If-Range: the date is
    (("last-modified",), "last-modified"),
    (("weak-etag",), None),  # nothing usable: start over
    ((), None),
])
def test_if_range_uses_a_strong_validator_else_starts_over(server: FileServer, cache: Path,
                                                           validators: tuple[str, ...], sent: str | None) -> None:
    server.validators = validators
    half = len(PAYLOAD) // 2
    server.drop_after = half
    with pytest.raises(DownloadError, match="interrupted") as info:
        download(server.url("weights.bin"), retries=0, progress=False)
    date_a = server.last_modified("weights.bin")
    server.files["weights.bin"] = new = CHANGED["same length"]
    assert download(server.url("weights.bin"), progress=False).read_bytes() == new
    resume = server.requests[1]
    if sent is None:  # the bytes could not be resumed safely: dropped at once, and the message says so
        assert "run again to download it from the start" in str(info.value) and "\n" not in str(info.value)
        assert (resume.range, resume.if_range, resume.status) == (None, None, 200)
    else:
        assert "run again to resume" in str(info.value)
        assert (resume.range, resume.if_range, resume.status) == (f"bytes={half}-", date_a, 200)


@pytest.mark.parametrize("validators", [("etag",), ("last-modified",)])
def test_server_ignoring_if_range_cannot_splice(server: FileServer, cache: Path, validators: tuple[str, ...]) -> None:
    server.validators, server.honour_if_range = validators, False  # serves any range of whatever it has now
    half = interrupt_half_way(server, cache)
    server.files["weights.bin"] = new = CHANGED["same length"]
    assert download(server.url("weights.bin"), progress=False).read_bytes() == new
    # The 206 carried another validator than the one sent: its bytes were dropped and the file fetched whole.
    assert [(r.range, r.status) for r in server.requests[1:]] == [(f"bytes={half}-", 206), (None, 200)]


def test_partial_without_a_record_of_this_url_starts_over(server: FileServer, cache: Path) -> None:
    cache.mkdir()
    (cache / "weights.bin.part").write_bytes(b"stale bytes of unknown origin")  # e.g. left by an older version
    assert download(server.url("weights.bin"), progress=False).read_bytes() == PAYLOAD
    remove_download(cache / "weights.bin")
    interrupt_half_way(server, cache)
    record = cache / "weights.bin.part.json"  # a partial of another URL (another mirror) into the same file
    record.write_text(json.dumps({**json.loads(record.read_text()), "url": server.url("mirror/weights.bin")}))
    assert download(server.url("weights.bin"), progress=False).read_bytes() == PAYLOAD
    assert [(r.range, r.if_range) for r in server.requests] == [(None, None)] * 3


def test_sidecar_records_size_sha256_and_validators(server: FileServer, cache: Path) -> None:
    path = download(server.url("weights.bin"), progress=False)
    record = json.loads((cache / "weights.bin.json").read_text())
    assert {k: record[k] for k in ("url", "sha256", "size", "etag", "last_modified")} == {
        "url": server.url("weights.bin"), "sha256": PAYLOAD_SHA, "size": len(PAYLOAD),
        "etag": server.etag("weights.bin"), "last_modified": server.last_modified("weights.bin")}
    assert path.read_bytes() == PAYLOAD


@pytest.mark.parametrize("given", ["nothing", "size"])
def test_cached_file_changed_on_disk_is_detected_on_reuse(server: FileServer, given: str) -> None:
    options = {"size": len(PAYLOAD)} if given == "size" else {}
    path = download(server.url("weights.bin"), progress=False, **options)
    flipped = bytearray(PAYLOAD)
    flipped[len(PAYLOAD) // 2] ^= 1  # one bit, same size: only the recorded sha256 can tell
    path.write_bytes(bytes(flipped))
    with pytest.warns(UserWarning, match="corrupt.* — downloading it again"):
        again = download(server.url("weights.bin"), progress=False, **options)
    assert again.read_bytes() == PAYLOAD and len(server.requests) == 2


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


def test_a_second_process_waits_for_the_first_instead_of_writing_into_its_part(
        server: FileServer, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two downloads of one file at once (torchrun ranks, two notebooks) would append to one ``.part``: the second
    waits on the file's lock (held here as another process would), then downloads or finds the file cached."""
    import threading

    from helpers.base.folder_lock import exclusive_file_lock

    cache.mkdir(parents=True, exist_ok=True)
    results: list[Path] = []
    with exclusive_file_lock(cache / "weights.bin.lock", "test"):
        waiter = threading.Thread(target=lambda: results.append(download(server.url("weights.bin"), progress=False)))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and server.requests == []  # waiting, not downloading
    waiter.join(10)
    assert results == [cache / "weights.bin"] and results[0].read_bytes() == PAYLOAD
    assert len(server.requests) == 1
    assert "another process is downloading weights.bin: waiting for it to finish" in capsys.readouterr().err
    assert not (cache / "weights.bin.lock").exists()  # the lock file lives only while it is held
