"""Google Drive back-end of :func:`helpers.download.fetcher.fetch` (``gdown``, imported only when used)."""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
from pathlib import Path
from typing import Any

from helpers.download import fetch_store as store
from helpers.download.archives import is_archive
from helpers.download.http_download import DownloadError, verify_file
from helpers.download.sources import GoogleDriveSource, MissingBackendError, describe, source_key, source_record

__all__ = ["fetch_gdrive"]


def _call_supported(function: Any, **kwargs: Any) -> Any:
    """Call with the keyword arguments ``function`` accepts (gdown's parameters changed between versions)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return function(**kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return function(**kwargs)
    return function(**{k: v for k, v in kwargs.items() if k in parameters})


def _import_gdown() -> Any:
    try:
        return importlib.import_module("gdown")
    except ImportError:
        raise MissingBackendError("Google Drive downloads need the gdown package: pip install gdown") from None


def _drop_partial_files(folder: Path) -> None:
    """Delete the ``*.part`` files gdown left in ``folder`` (its partial downloads)."""
    for leftover in folder.glob("*.part"):
        if leftover.is_file():
            leftover.unlink()


def fetch_gdrive(source: GoogleDriveSource, dest: Path, *, progress: bool) -> Path:
    gdown = _import_gdown()
    key = source_key(source)
    part = store.part_dir(dest, key)  # stable: gdown resumes its <name>XXXXXXXX.part files found here
    content = part / "content"
    part.mkdir(parents=True, exist_ok=True)
    record = {"source": source_record(source)}
    hint = (f"open {source.page} in a browser, download it by hand and put it into {dest} (Drive locks a public "
            "file for about a day after too many downloads; a large folder may need several runs, and old gdown "
            "versions refuse folders of more than 50 files: pip install -U gdown)")
    try:
        if source.folder_id is not None:
            shutil.rmtree(content, ignore_errors=True)
            files = _call_supported(gdown.download_folder, id=source.folder_id, output=str(content),
                                    quiet=not progress, resume=True)
            if not files or not content.is_dir():
                raise DownloadError(f"Google Drive folder {source.folder_id} gave no files: {hint}")
            store.install(content, dest, key, {**record, "result": "."})
        else:
            target = str(part / source.filename) if source.filename else str(part) + os.sep
            # gdown resumes an earlier run's partial file with Range but without If-Range (the validator it checks
            # is the new response's): a file changed on Drive in between would be spliced. Only a known sha256
            # catches that, so without one the earlier bytes are dropped (retries within this run stay safe).
            resume = source.sha256 is not None
            if not resume:
                _drop_partial_files(part)
            got = _call_supported(gdown.download, id=source.file_id, output=target, quiet=not progress, resume=resume)
            if not got or not Path(got).is_file():
                raise DownloadError(f"Google Drive file {source.file_id} was not downloaded: {hint}")
            path = Path(got)
            digest = verify_file(path, source.sha256, source.size, f"Google Drive file {source.file_id}")
            unpack = is_archive(path.name) if source.unpack is None else source.unpack
            if unpack:
                store.unpack_into(path, dest, key, {**record, "archive_sha256": digest}, progress=progress)
            else:
                content.mkdir(parents=True, exist_ok=True)
                os.replace(path, content / path.name)
                store.install(content, dest, key, {**record, "result": path.name})
    except (DownloadError, MissingBackendError):
        store.drop_if_empty(part)
        raise
    except Exception as exc:  # noqa: BLE001 -- gdown's errors differ between versions (FileURLRetrievalError, requests)
        store.drop_if_empty(part)
        raise DownloadError(f"Google Drive download of {describe(source)} failed ({type(exc).__name__}: {exc}); "
                            f"{hint}") from None
    shutil.rmtree(part, ignore_errors=True)
    return store.cached_result(dest, key) or dest


