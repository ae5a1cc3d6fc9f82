"""One downloader for the whole project: cached, resumable, verified, never half-written.

:func:`download` fetches a URL into the cache (``$HELPERS_CACHE``, else
``~/.cache/eg3d-face-toolkit``) or to a given path and returns the local path.

* **Resume**: bytes arrive in ``<name>.part``; an interrupted transfer is continued with an HTTP
  ``Range`` request (automatically ``retries`` times, and again on the next call). A server that
  ignores ``Range`` (answers 200) is handled by starting the ``.part`` over.
* **Verification**: size and sha256 are checked when known. Only a verified ``.part`` is renamed to
  the final name (an atomic rename in the same folder), so a file under the final name is always
  complete. A checksum mismatch raises :class:`ChecksumError` and deletes the ``.part`` (its bytes
  are wrong, so resuming from it could never succeed).
* **Cache**: a file already under the final name is used without any network request. It is checked
  against the given size/sha256, or else against the sha256 recorded in the sidecar
  ``<file>.json`` written at its first download. A cached file that fails the check is treated as
  corrupt: a warning is issued, the file is deleted and downloaded again (the URL, not the cache,
  is the source of truth). A file without sidecar and without known checksum (placed there by hand)
  is trusted and its sha256 recorded.
* **Errors** are :class:`DownloadError` with the URL and the HTTP status, the expected and actual
  checksum, or the file that could not be written.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from tqdm.auto import tqdm

from helpers.base.atomic import write_text_atomic

__all__ = [
    "DownloadError",
    "ChecksumError",
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
        DownloadError: HTTP error, unreachable server, interrupted transfer (the ``.part`` is kept
            for the next call to resume) or a file-system error.
    """
    final = _final_path(url, dest, cache_dir)
    expected = _Expected(sha256.lower() if sha256 else None, size)
    if final.exists():
        if _cached_file_ok(final, expected):
            return final
        warnings.warn(f"cached file {final} is corrupt (checksum mismatch); downloading it again", stacklevel=2)
        final.unlink()
        _sidecar(final).unlink(missing_ok=True)
    part = final.with_name(final.name + ".part")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create folder {final.parent} for {url}: {exc}") from None
    for attempt in range(retries + 1):
        try:
            _fetch_into(url, part, expected, progress=progress, timeout=timeout, reject_html=reject_html)
            break
        except _Interrupted as exc:
            if attempt == retries:
                raise DownloadError(
                    f"download of {url} was interrupted ({exc}); the {part.stat().st_size if part.exists() else 0} "
                    f"bytes received are kept in {part}: run again to resume"
                ) from None
    digest = _verify_part(url, part, expected)
    os.replace(part, final)  # atomic: the verified .part becomes the final file in one step
    _write_sidecar(final, url, digest)
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


def _sidecar(final: Path) -> Path:
    return final.with_name(final.name + ".json")


def _cached_file_ok(final: Path, expected: _Expected) -> bool:
    actual_size = final.stat().st_size
    if expected.size is not None and actual_size != expected.size:
        return False
    recorded = _read_sidecar(final)
    want = expected.sha256 or recorded.get("sha256")
    if want is None:  # nothing to compare with: trust it, and record it for the next time
        _write_sidecar(final, recorded.get("url", ""), sha256_file(final))
        return True
    if recorded.get("size") not in (None, actual_size):
        return False
    return sha256_file(final) == want


def _read_sidecar(final: Path) -> dict[str, Any]:
    try:
        data = json.loads(_sidecar(final).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_sidecar(final: Path, url: str, digest: str) -> None:
    record = {
        "url": url,
        "sha256": digest,
        "size": final.stat().st_size,
        "downloaded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        write_text_atomic(_sidecar(final), json.dumps(record, indent=1) + "\n")
    except OSError as exc:
        raise DownloadError(f"cannot write {_sidecar(final)}: {exc}") from None


def _fetch_into(url: str, part: Path, expected: _Expected, *, progress: bool, timeout: float, reject_html: bool) -> None:
    offset = part.stat().st_size if part.exists() else 0
    if expected.size is not None and offset > expected.size:
        part.unlink()  # longer than the file can be: not a prefix of it
        offset = 0
    if expected.size is not None and offset == expected.size:
        return  # all bytes already there; verified by the caller
    try:
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    except ValueError as exc:
        raise DownloadError(f"invalid URL {url!r}: {exc}") from None
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # range beyond the end: the .part may already be complete
            total = _content_range_total(exc.headers.get("Content-Range", ""))
            exc.close()
            if total == offset:
                return
            part.unlink()
            raise _Interrupted(f"server refused to resume at byte {offset}; restarting") from None
        exc.close()
        raise DownloadError(f"HTTP {exc.code} {exc.reason} for {url}") from None
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
        if status == 206 and _content_range_start(content_range) != offset:
            part.unlink(missing_ok=True)  # a range we did not ask for: start over without Range
            raise _Interrupted(f"server sent {content_range!r} for a request from byte {offset}")
        if status == 206:
            mode, total = "ab", _content_range_total(content_range)
        else:  # 200: the server ignored Range (or this is a fresh download): start over
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if total is None:
            total = expected.size
        _stream(response, part, mode, offset, total, url, progress)


def _stream(response: BinaryIO, part: Path, mode: str, offset: int, total: int | None, url: str, progress: bool) -> None:
    written = offset
    bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
               desc=part.name.removesuffix(".part"), disable=not progress, leave=True)
    try:
        with open(part, mode) as out:
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
