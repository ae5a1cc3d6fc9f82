"""Hugging Face Hub back-end of :func:`helpers.download.fetcher.fetch` (``huggingface_hub``, imported only when used)."""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from helpers.download import fetch_store as store
from helpers.download.archives import is_archive
from helpers.download.http_download import DownloadError, sha256_file
from helpers.download.sources import HuggingFaceSource, MissingBackendError, describe, source_key, source_record

__all__ = ["fetch_hf"]


def _import_hf() -> Any:
    try:
        return importlib.import_module("huggingface_hub")
    except ImportError:
        raise MissingBackendError("Hugging Face downloads need the huggingface_hub package: "
                                  "pip install huggingface_hub") from None


class _QuietTqdm(tqdm):  # type: ignore[misc]
    """A tqdm that never draws (for ``progress=False``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def _hf_error(exc: Exception, source: HuggingFaceSource, dest: Path) -> DownloadError:
    names = {cls.__name__ for cls in type(exc).__mro__}  # by name: the error classes moved between versions
    what = describe(source)
    if names & {"LocalEntryNotFoundError", "OfflineModeIsEnabled"}:
        offline = " HF_HUB_OFFLINE is set: unset it." if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0") else ""
        return DownloadError(f"cannot reach the Hugging Face Hub for {what} and it is not in the local cache "
                             f"(offline?).{offline} Connect to the internet, or download {source.page} by hand "
                             f"into {dest}.")
    if "GatedRepoError" in names:
        return DownloadError(f"{source.page} is gated: open it while signed in, accept its conditions, then log in "
                             "here (`hf auth login`, or set HF_TOKEN).")
    if "RepositoryNotFoundError" in names:
        return DownloadError(f"{source.repo_type} repository {source.repo_id} not found on the Hugging Face Hub "
                             "(or it is private: log in with `hf auth login` or set HF_TOKEN).")
    if "RevisionNotFoundError" in names:
        return DownloadError(f"revision {source.revision!r} of {source.repo_id} not found on the Hugging Face Hub.")
    if names & {"EntryNotFoundError", "RemoteEntryNotFoundError"}:
        return DownloadError(f"{source.filename!r} is not a file of {source.page}.")
    return DownloadError(f"Hugging Face download of {what} failed ({type(exc).__name__}: {exc}).")


def _call_hub(function: Any, progress: bool, **kwargs: Any) -> Any:
    if not progress and "tqdm_class" in inspect.signature(function).parameters:
        kwargs["tqdm_class"] = _QuietTqdm
    return function(**kwargs)


def fetch_hf(source: HuggingFaceSource, dest: Path, *, progress: bool) -> Path:
    hub = _import_hf()
    key = source_key(source)
    part = store.part_dir(dest, key)
    local = part / "hub"  # stable: the Hub resumes its .incomplete files and skips complete ones found here
    common = {"repo_id": source.repo_id, "repo_type": source.repo_type, "revision": source.revision,
              "local_dir": str(local)}
    record = {"source": source_record(source)}
    try:
        if source.filename is not None:
            got = Path(_call_hub(hub.hf_hub_download, progress, filename=source.filename, **common))
        else:
            patterns = list(source.allow_patterns) if source.allow_patterns is not None else None
            _call_hub(hub.snapshot_download, progress, allow_patterns=patterns, **common)
    except Exception as exc:  # noqa: BLE001 -- classified by name in _hf_error
        store.drop_if_empty(part)
        raise _hf_error(exc, source, dest) from None
    if source.filename is not None:
        if source.unpack and is_archive(got.name):
            store.unpack_into(got, dest, key, {**record, "archive_sha256": sha256_file(got)}, progress=progress)
        else:
            content = part / "content"
            shutil.rmtree(content, ignore_errors=True)
            content.mkdir(parents=True)
            os.replace(got, content / got.name)
            store.install(content, dest, key, {**record, "result": got.name})
    else:
        shutil.rmtree(local / ".cache", ignore_errors=True)  # the Hub's bookkeeping for local_dir
        root = local / source.subfolder if source.subfolder else local
        if not root.is_dir() or not any(root.iterdir()):
            raise DownloadError(f"nothing of {describe(source)} was downloaded (no file matched"
                                f"{' in ' + source.subfolder if source.subfolder else ''}); see {source.page}")
        if source.unpack:
            for archive in sorted(p for p in root.rglob("*") if p.is_file() and is_archive(p.name)):
                store.extract_beside(archive, progress=progress)
        store.install(root, dest, key, {**record, "result": "."})
    shutil.rmtree(part, ignore_errors=True)
    return store.cached_result(dest, key) or dest


