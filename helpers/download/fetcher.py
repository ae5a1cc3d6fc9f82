"""Fetch data from HTTP(S), Google Drive, Kaggle or the Hugging Face Hub into a folder: cached, verified, atomic.

One entry point, :func:`fetch`, dispatching on a typed source of :mod:`helpers.download.sources` (the back-ends'
packages are imported only when used): :class:`HttpSource` (urllib), :class:`GoogleDriveSource` (``gdown``),
:class:`KaggleSource` (``kaggle``), :class:`HuggingFaceSource` (``huggingface_hub``) and :class:`ManualSource` (no
back-end: an error that says which page to open).

- ``dest`` is a **folder**. A plain file lands as ``dest/<name>`` and :func:`fetch` returns that file; an archive, a
  Kaggle dataset, a Drive folder or a Hub snapshot is unpacked **into** ``dest`` and :func:`fetch` returns ``dest``.
  ``dest=None`` means a folder in the cache (``cache_dir`` or :func:`helpers.download.http_download.default_cache_dir`).
- **Atomic**: the completion marker ``dest/.fetched/<key>.json`` is written last, so a folder without it is
  incomplete and is fetched again. Entries that already exist in ``dest`` and do not come from an earlier fetch of
  the same source are never overwritten: that is an error naming them.
- **Cache hit**: when the marker exists and every entry it lists is there, :func:`fetch` returns at once: no network,
  no back-end import, no credentials. Downloads resume; size and sha256 are verified when the source gives them.
- **Errors** are :class:`~helpers.download.http_download.DownloadError` (and subclasses, e.g. a checksum mismatch)
  saying what failed and what to do; a missing back-end package is an :class:`ImportError` with the ``pip install``
  command.

Design notes: docs/design/download.md (fetcher): the conventions in full, resume, archives, Kaggle credentials.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from helpers.download import fetch_store as store
from helpers.download.archives import (  # re-exported: ARCHIVE_SUFFIXES, is_archive
    BadArchiveError,
    is_archive,
)
from helpers.download.fetch_gdrive import fetch_gdrive
from helpers.download.fetch_hf import fetch_hf
from helpers.download.fetch_kaggle import fetch_kaggle
from helpers.download.http_download import (
    default_cache_dir,
    download,
    recorded_sha256,
    remove_download,
    sha256_file,
    url_file_name,
)
from helpers.download.sources import (
    GoogleDriveSource,
    HttpSource,
    HuggingFaceSource,
    KaggleSource,
    ManualDownloadError,
    ManualSource,
    Source,
    source_key,
    source_record,
)

__all__ = ["fetch", "is_fetched"]


# ------------------------------------------------------------------------------------------------ fetch
def fetch(
    source: Source,
    dest: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    keep_archive: bool = False,
    timeout: float = 60.0,
    retries: int = 2,
) -> Path:
    """Fetch ``source`` into the folder ``dest`` (or reuse what an earlier call fetched) and return the result.

    Args:
        source: where the data is (see the module doc for each kind).
        dest: destination folder; None = a folder in the cache (see the module doc).
        cache_dir: cache folder; default :func:`helpers.download.http_download.default_cache_dir`.
        progress: show progress bars (download and unpacking).
        keep_archive: keep a downloaded HTTP archive in ``<cache>/archives/`` after unpacking it.
        timeout, retries: for HTTP downloads (see :func:`helpers.download.http_download.download`).

    Returns:
        the file (``dest/<name>``) for a single plain file, else ``dest`` with the unpacked content.

    Raises:
        ChecksumError: the bytes do not match the source's size/sha256 (nothing is left under the final name).
        DownloadError: the download failed; subclasses: :class:`KaggleCredentialsError`,
            :class:`KaggleDatasetUnknownError`, :class:`ManualDownloadError`.
        MissingBackendError: (an ImportError) gdown / kaggle / huggingface_hub is not installed.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if isinstance(source, HttpSource):
        return _fetch_http(source, dest, cache, progress=progress, keep_archive=keep_archive, timeout=timeout,
                           retries=retries)
    folder = Path(dest).expanduser() if dest is not None else cache / "sources" / source_key(source)
    if isinstance(source, ManualSource):
        note = f" ({source.note})" if source.note else ""
        raise ManualDownloadError(f"{source.url} cannot be downloaded by this program{note}: open it in a browser, "
                                  f"download the files by hand and put them into {folder}")
    hit = store.cached_result(folder, source_key(source))
    if hit is not None:
        return hit
    if isinstance(source, GoogleDriveSource):
        return fetch_gdrive(source, folder, progress=progress)
    if isinstance(source, KaggleSource):
        return fetch_kaggle(source, folder, progress=progress)
    if isinstance(source, HuggingFaceSource):
        return fetch_hf(source, folder, progress=progress)
    raise TypeError(f"not a download source: {source!r}")


def is_fetched(source: Source, dest: str | os.PathLike[str]) -> bool:
    """Whether ``dest`` holds a complete earlier fetch of ``source`` (its marker and every entry it lists)."""
    if isinstance(source, HttpSource) and not _http_is_archive(source):
        return (Path(dest) / _http_name(source)).is_file()
    return store.cached_result(Path(dest), source_key(source)) is not None


# ------------------------------------------------------------------------------------------------ HTTP
def _http_name(source: HttpSource) -> str:
    return source.filename or url_file_name(source.url)


def _http_is_archive(source: HttpSource) -> bool:
    return is_archive(_http_name(source)) if source.unpack is None else source.unpack


def _fetch_http(source: HttpSource, dest: str | os.PathLike[str] | None, cache: Path, *, progress: bool,
                keep_archive: bool, timeout: float, retries: int) -> Path:
    name = _http_name(source)
    options: dict[str, Any] = {"sha256": source.sha256, "size": source.size, "progress": progress,
                               "timeout": timeout, "retries": retries}
    if not _http_is_archive(source):
        # The downloader's own cache applies (sidecar sha256, resume, atomic rename): nothing to add here.
        target = Path(dest).expanduser() / name if dest is not None else cache / name
        return download(source.url, target, **options)
    key = source_key(source)
    folder = Path(dest).expanduser() if dest is not None else cache / "sources" / key
    hit = store.cached_result(folder, key)
    if hit is not None:
        return hit
    archive = download(source.url, cache / "archives" / key / name, **options)  # resumable, verified
    # download() hashed the file as it verified it: reuse that digest (hash again only if its record is gone).
    record = {"source": source_record(source), "archive_sha256": recorded_sha256(archive) or sha256_file(archive)}
    try:
        store.unpack_into(archive, folder, key, record, progress=progress)
    except BadArchiveError:
        keep_archive = False  # cached, it would be reused (its sha256 is recorded) and fail again every time
        raise
    finally:
        if not keep_archive:
            remove_download(archive)
            store.remove_empty_dir(archive.parent)
    return folder


