"""One downloader for the whole project: cached, resumable, verified, never half-written.

:func:`download` fetches a URL into the cache (``$HELPERS_CACHE``, else ``~/.cache/eg3d-face-toolkit``) or to a
given path and returns the local path.

* **Resume, only when safe**: bytes arrive in ``<name>.part``; ``<name>.part.json`` keeps the URL and the validator
  of the response they came from (a strong ETag, else a strong Last-Modified). An interrupted transfer continues with
  ``Range`` + ``If-Range``; a 200 answer, a 206 without that same validator, or a partial file without one starts
  over from byte 0, so a file changed on the server is never spliced onto old bytes.
* **Verification**: size and sha256 are checked when known; only a verified ``.part`` is renamed to the final name
  (atomic, same folder). A mismatch raises :class:`ChecksumError` and deletes the ``.part``.
* **Cache**: a file under the final name is used without any network request once it matches the given size/sha256,
  else the size and sha256 in its sidecar ``<file>.json`` (written for every completed download, with the URL and
  validator). A file that does not match (changed on disk) is downloaded again, with a warning; a file with neither
  sidecar nor known checksum (placed there by hand) is trusted and recorded.
* **Errors** are :class:`DownloadError` naming the URL and the HTTP status, the checksums, or the file.

Design notes: docs/design/download.md (http_download): the resume protocol, the sidecar, what is verified when.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path
from typing import Any, BinaryIO

from tqdm.auto import tqdm

from helpers.base.atomic import write_text_atomic
from helpers.base.errors import UserError
from helpers.base.folder_lock import exclusive_file_lock

__all__ = [
    "DownloadError",
    "ChecksumError",
    "DownloadInterruptedError",
    "default_cache_dir",
    "download",
    "recorded_sha256",
    "remove_download",
    "url_file_name",
    "verify_file",
    "sha256_file",
    "CACHE_ENV",
]

CACHE_ENV = "HELPERS_CACHE"
_CHUNK = 1 << 20
_USER_AGENT = "eg3d-face-toolkit (python urllib)"


class DownloadError(RuntimeError):
    """A download failed: HTTP error, unreachable server, interrupted transfer or disk error."""


class ChecksumError(DownloadError):
    """Downloaded bytes do not have the expected size or sha256."""


class DownloadInterruptedError(UserError, DownloadError):
    """The connection broke more often than ``retries`` allows; the message says whether the next run resumes."""


def default_cache_dir() -> Path:
    """``$HELPERS_CACHE`` if set, else ``~/.cache/eg3d-face-toolkit``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "eg3d-face-toolkit"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike[str] | None = None,
    *,
    sha256: str | None = None,
    size: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    retries: int = 2,
    timeout: float = 60.0,
    reject_html: bool = False,
) -> Path:
    """Download ``url`` (or reuse the cached copy) and return the local path.

    Args:
        url: http(s) URL (``file:`` works too, through urllib).
        dest: final file path; an existing directory means "this folder, the URL's file name".
            Default: ``cache_dir / <file name from the URL>``.
        sha256, size: expected checksum and byte count, verified when given.
        cache_dir: folder for ``dest=None``; default :func:`default_cache_dir`.
        progress: show a tqdm progress bar (total from Content-Length).
        retries: how many times an interrupted transfer is resumed within this call.
        timeout: socket timeout in seconds for connecting and for each read.
        reject_html: fail if the server answers with an HTML page (file hosts such as Google Drive
            answer quota or confirmation pages with status 200).

    Raises:
        ChecksumError: the bytes do not match ``size``/``sha256`` (nothing left under the final name).
        DownloadInterruptedError: the transfer broke ``retries + 1`` times (the ``.part`` is kept for the next call
            to resume when the server gave a validator for it).
        DownloadError: HTTP error, unreachable server or a file-system error.
    """
    final = _final_path(url, dest, cache_dir)
    expected = _Expected(sha256.lower() if sha256 else None, size)
    if final.exists() and _cached_file_ok(final, expected, url):
        return final
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create folder {final.parent} for {url}: {exc}") from None
    # One process at a time per file (torchrun ranks, two notebooks): the others wait, then find it cached.
    with exclusive_file_lock(final.with_name(final.name + ".lock"), f"another process is downloading {final.name}"):
        return _download_locked(url, final, expected, progress=progress, retries=retries, timeout=timeout,
                                reject_html=reject_html)


def _download_locked(url: str, final: Path, expected: _Expected, *, progress: bool, retries: int, timeout: float,
                     reject_html: bool) -> Path:
    if final.exists():
        if _cached_file_ok(final, expected, url):
            return final
        warnings.warn(f"cached file {final} is corrupt (its size or sha256 changed since it was downloaded) — "
                      "downloading it again", stacklevel=3)
        final.unlink()
        _sidecar(final).unlink(missing_ok=True)
    part = final.with_name(final.name + ".part")
    for attempt in range(retries + 1):
        try:
            _fetch_into(url, part, expected, progress=progress, timeout=timeout, reject_html=reject_html)
            break
        except _Interrupted as exc:
            if attempt == retries:
                raise _interrupted_error(url, part, expected, str(exc)) from None
    info = _read_part_info(part)
    try:
        digest = _verify_part(url, part, expected)
    except ChecksumError:
        _part_info_path(part).unlink(missing_ok=True)
        raise
    # The record first, then the file: a crash in between leaves a record without a file (harmless), never a file
    # whose record is missing or stale.
    _write_sidecar(final, url, digest, size=part.stat().st_size, extra=info.validators() if info else None)
    os.replace(part, final)  # atomic: the verified .part becomes the final file in one step
    _part_info_path(part).unlink(missing_ok=True)
    return final


def url_file_name(url: str) -> str:
    """The file name :func:`download` gives a URL: the last part of its path, or a hash of the URL without one."""
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    return name or hashlib.sha256(url.encode()).hexdigest()[:16]


def verify_file(path: str | os.PathLike[str], sha256: str | None, size: int | None, what: str) -> str:
    """Check a file's byte count and sha256 when given; return its sha256. A mismatch deletes the file and raises
    :class:`ChecksumError` naming ``what``."""
    path = Path(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        path.unlink()
        raise ChecksumError(f"{what}: expected {size} bytes, got {actual_size}; the download was deleted")
    digest = sha256_file(path)
    if sha256 is not None and digest != sha256.lower():
        path.unlink()
        raise ChecksumError(f"{what}: sha256 mismatch, expected {sha256.lower()}, got {digest}; "
                            "the download was deleted")
    return digest


def recorded_sha256(path: str | os.PathLike[str]) -> str | None:
    """The sha256 :func:`download` recorded for its file (its sidecar), or None."""
    digest = _read_sidecar(Path(path)).get("sha256")
    return digest if isinstance(digest, str) else None


def remove_download(path: str | os.PathLike[str]) -> None:
    """Delete a file :func:`download` wrote, with its sidecar (missing ones are fine)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)


# ----------------------------------------------------------------------------------- internals
@dataclass(frozen=True)
class _Expected:
    sha256: str | None
    size: int | None


class _Interrupted(Exception):
    """The connection ended before all bytes arrived (resumable)."""


def _final_path(url: str, dest: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None) -> Path:
    name = url_file_name(url)
    if dest is None:
        return Path(cache_dir).expanduser() / name if cache_dir is not None else default_cache_dir() / name
    dest = Path(dest).expanduser()
    return dest / name if dest.is_dir() else dest


# ---------------------------------------------------------------------- the sidecar of a completed download
def _sidecar(final: Path) -> Path:
    return final.with_name(final.name + ".json")


def _cached_file_ok(final: Path, expected: _Expected, url: str = "") -> bool:
    """Whether the file under the final name is still the one that was downloaded (or the one the caller expects)."""
    actual_size = final.stat().st_size
    recorded = _read_sidecar(final)
    if expected.size is not None and actual_size != expected.size:
        return False
    if isinstance(recorded.get("size"), int) and recorded["size"] != actual_size:
        return False
    want = expected.sha256 or recorded.get("sha256")
    if not isinstance(want, str):  # nothing to compare with (placed by hand): trust it, and record it for next time
        _write_sidecar(final, recorded.get("url") or url, sha256_file(final))
        return True
    return sha256_file(final) == want.lower()


def _read_sidecar(final: Path) -> dict[str, Any]:
    try:
        data = json.loads(_sidecar(final).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_sidecar(final: Path, url: str, digest: str, *, size: int | None = None,
                   extra: dict[str, Any] | None = None) -> None:
    """Record ``url``, ``sha256``, ``size`` (default: the file's) and the time beside ``final``, plus ``extra`` fields
    (the download's ``etag``/``last_modified``)."""
    record = {
        "url": url,
        "sha256": digest,
        "size": final.stat().st_size if size is None else size,
        "downloaded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    try:
        write_text_atomic(_sidecar(final), json.dumps(record, indent=1) + "\n")
    except OSError as exc:
        raise DownloadError(f"cannot write {_sidecar(final)}: {exc}") from None


# ---------------------------------------------------------------------- the record of a partial file
@dataclass(frozen=True)
class _PartInfo:
    """What ``<name>.part.json`` keeps about the response whose bytes are in ``<name>.part``."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    date: str | None = None
    total: int | None = None  # the whole file's byte count, when the response gave it

    @classmethod
    def of_response(cls, url: str, headers: Message, total: int | None) -> _PartInfo:
        return cls(url, headers.get("ETag"), headers.get("Last-Modified"), headers.get("Date"), total)

    def if_range(self) -> str | None:
        """The validator RFC 9110 §13.1.5 lets a client send as ``If-Range``: a strong ETag, else a Last-Modified
        that is strong (the response's Date at least one second later, §8.8.2.2), else None (no safe resume)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        if self.last_modified and _strong_date(self.last_modified, self.date):
            return self.last_modified
        return None

    def confirmed_by(self, headers: Message) -> bool:
        """Whether an answer to our ``If-Range`` carries the very validator we sent (a server that ignored
        ``If-Range`` would send the current file's, or none: then its bytes may belong to another version)."""
        sent = self.if_range()
        field = "ETag" if sent is not None and sent == self.etag else "Last-Modified"
        return sent is not None and headers.get(field) == sent

    def validators(self) -> dict[str, str]:
        return {k: v for k, v in (("etag", self.etag), ("last_modified", self.last_modified)) if v}


def _strong_date(last_modified: str, date: str | None) -> bool:
    try:
        modified, sent = email.utils.parsedate_to_datetime(last_modified), email.utils.parsedate_to_datetime(date or "")
        return (sent - modified).total_seconds() >= 1
    except (TypeError, ValueError):  # unparsable, missing, or naive against aware
        return False


def _part_info_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_part_info(part: Path) -> _PartInfo | None:
    try:
        data = json.loads(_part_info_path(part).read_text(encoding="utf-8"))
        return _PartInfo(**data) if isinstance(data, dict) and isinstance(data.get("url"), str) else None
    except (OSError, ValueError, TypeError):
        return None


def _start_part(part: Path, info: _PartInfo) -> None:
    """Start ``part`` over for the response ``info`` describes. Order matters: the old record goes first, the file is
    emptied, then the new record is written, so a crash never leaves old bytes beside a new validator."""
    try:
        _part_info_path(part).unlink(missing_ok=True)
        part.write_bytes(b"")
        write_text_atomic(_part_info_path(part), json.dumps(asdict(info), indent=1) + "\n")
    except OSError as exc:
        raise DownloadError(f"cannot write {part} while downloading {info.url}: {exc}") from None


def _resume_point(url: str, part: Path, expected: _Expected) -> tuple[int, _PartInfo | None]:
    """Where ``part`` may be continued: (its length, its record), or (0, None) to start over: no partial file, or
    one without a record of this URL with a usable validator, or longer than the file can be."""
    offset = part.stat().st_size if part.exists() else 0
    info = _read_part_info(part) if offset else None
    if info is None or info.url != url or info.if_range() is None:
        return 0, None
    if any(total is not None and offset > total for total in (expected.size, info.total)):
        return 0, None
    return offset, info


def _interrupted_error(url: str, part: Path, expected: _Expected, why: str) -> DownloadInterruptedError:
    offset, _ = _resume_point(url, part, expected)
    if offset:
        return DownloadInterruptedError(f"download of {url} was interrupted ({why}); the {offset} bytes received are "
                                        f"kept in {part}", "run again to resume")
    part.unlink(missing_ok=True)  # no validator to resume it safely: its bytes are of no use
    _part_info_path(part).unlink(missing_ok=True)
    return DownloadInterruptedError(f"download of {url} was interrupted ({why}) and the server gives no ETag or "
                                    "Last-Modified to resume it safely", "run again to download it from the start")


# ---------------------------------------------------------------------- one transfer
def _fetch_into(url: str, part: Path, expected: _Expected, *, progress: bool, timeout: float, reject_html: bool) -> None:
    offset, info = _resume_point(url, part, expected)
    if info is not None and offset in (expected.size, info.total):
        return  # every byte is there already, all of one version of the file; verified by the caller
    while True:  # at most twice: a resume the server does not confirm is followed by one request from byte 0
        try:
            request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        except ValueError as exc:
            raise DownloadError(f"invalid URL {url!r}: {exc}") from None
        if info is not None:
            request.add_header("Range", f"bytes={offset}-")
            request.add_header("If-Range", info.if_range() or "")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            headers, code, reason = exc.headers, exc.code, exc.reason
            exc.close()
            if code == 416 and info is not None:  # range beyond the end: the .part may already be complete
                if _content_range_total(headers.get("Content-Range", "")) == offset and info.confirmed_by(headers):
                    return
                offset, info = 0, None
                continue
            raise DownloadError(f"HTTP {code} {reason} for {url}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(f"could not reach {url}: {reason}") from None
        with response:
            if reject_html and response.headers.get_content_type() == "text/html":
                raise DownloadError(
                    f"{url} answered with a web page instead of the file (quota exceeded or a confirmation "
                    "page?); download it in a browser and pass the local path"
                )
            status = getattr(response, "status", 200)
            content_range = response.headers.get("Content-Range", "")
            total = _content_range_total(content_range)
            if info is not None:
                same_length = None in (total, info.total) or total == info.total
                if (status == 206 and _content_range_start(content_range) == offset and same_length
                        and info.confirmed_by(response.headers)):
                    _stream(response, part, offset, total or info.total or expected.size, url, progress)
                    return
                if status == 206:  # not the bytes of the version we hold (or not the range we asked for): start over
                    offset, info = 0, None
                    continue
            elif status == 206 and _content_range_start(content_range) != 0:
                raise DownloadError(f"{url} answered a request for the whole file with {content_range!r}")
            # A 200 (or a 206 from byte 0): the whole file from its start, this response's version of it.
            if status != 206:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            _start_part(part, _PartInfo.of_response(url, response.headers, total))
            _stream(response, part, 0, total if total is not None else expected.size, url, progress)
            return


def _stream(response: BinaryIO, part: Path, offset: int, total: int | None, url: str, progress: bool) -> None:
    written = offset
    bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
               desc=part.name.removesuffix(".part"), disable=not progress, leave=True)
    try:
        with open(part, "ab") as out:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
                    raise _Interrupted(f"{type(exc).__name__} after {written} bytes") from None
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise DownloadError(f"cannot write {part} while downloading {url}: {exc} (disk full?)") from None
                written += len(chunk)
                bar.update(len(chunk))
    except OSError as exc:  # opening the .part failed (read errors are handled above)
        raise DownloadError(f"cannot write {part} while downloading {url}: {exc}") from None
    finally:
        bar.close()
    if total is not None and written < total:
        raise _Interrupted(f"connection closed after {written} of {total} bytes")


def _verify_part(url: str, part: Path, expected: _Expected) -> str:
    return verify_file(part, expected.sha256, expected.size, url)


_RANGE_RE = re.compile(r"bytes\s+(\d+|\*)(?:-(\d+))?/(\d+|\*)")


def _content_range_start(header: str) -> int | None:
    match = _RANGE_RE.match(header.strip())
    return int(match.group(1)) if match and match.group(1) != "*" else None


def _content_range_total(header: str) -> int | None:
    match = _RANGE_RE.match(header.strip())
    return int(match.group(3)) if match and match.group(3) != "*" else None
