"""Kaggle back-end of :func:`helpers.download.fetcher.fetch`: credentials looked up *before* ``kaggle`` is imported
(importing it without them prints an authentication banner, and older versions exit), then the download."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from helpers.download import fetch_store as store
from helpers.download.archives import extract_archive
from helpers.download.http_download import DownloadError
from helpers.download.sources import (
    KaggleCredentialsError,
    KaggleDatasetUnknownError,
    KaggleSource,
    MissingBackendError,
    source_key,
    source_record,
)

__all__ = ["fetch_kaggle", "kaggle_credentials"]

_KAGGLE_TOKEN_PAGE = "https://www.kaggle.com/settings"


def _kaggle_help() -> str:
    return (
        f"Create a Kaggle API token ({_KAGGLE_TOKEN_PAGE} → API → Create New Token; it downloads kaggle.json), "
        "then give it in one of three ways:\n"
        "  1. environment: export KAGGLE_USERNAME=<your user name> KAGGLE_KEY=<the key from kaggle.json>\n"
        "     (or KAGGLE_API_TOKEN=<token> for a new-style token);\n"
        "  2. file: save kaggle.json as ~/.kaggle/kaggle.json (chmod 600), or in the folder named by "
        "$KAGGLE_CONFIG_DIR;\n"
        "  3. Colab: add the secrets KAGGLE_USERNAME and KAGGLE_KEY (key icon in the left bar) and allow this "
        "notebook to read them."
    )


def _colab_secret(name: str) -> str | None:
    """A Colab secret, or None outside Colab / when it is missing or the notebook has no access to it."""
    try:
        if importlib.util.find_spec("google.colab") is None:
            return None
        userdata = importlib.import_module("google.colab.userdata")
        value = userdata.get(name)
    except Exception:  # noqa: BLE001 -- not Colab, secret missing, or access refused: all mean 'no secret'
        return None
    return value or None


def _kaggle_config_dirs() -> list[Path]:
    configured = os.environ.get("KAGGLE_CONFIG_DIR")
    if configured:
        return [Path(configured).expanduser()]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path.home() / ".kaggle", Path(xdg) / "kaggle"]  # the kaggle package reads the second if no ~/.kaggle


def kaggle_credentials() -> str:
    """Find Kaggle credentials without importing ``kaggle``; return where they are.

    Order: ``KAGGLE_USERNAME`` + ``KAGGLE_KEY`` or ``KAGGLE_API_TOKEN`` in the environment; ``kaggle.json`` (with
    ``username`` and ``key``) or ``access_token`` in ``$KAGGLE_CONFIG_DIR``, else ``~/.kaggle`` or
    ``~/.config/kaggle``; Colab secrets ``KAGGLE_USERNAME`` + ``KAGGLE_KEY`` (or ``KAGGLE_API_TOKEN``), which are
    copied into the environment so that ``kaggle`` finds them.

    Raises:
        KaggleCredentialsError: none found; the message says exactly how to provide them.
    """
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "environment (KAGGLE_USERNAME, KAGGLE_KEY)"
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "environment (KAGGLE_API_TOKEN)"
    for folder in _kaggle_config_dirs():
        config = folder / "kaggle.json"
        if config.is_file():
            try:
                data = json.loads(config.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise KaggleCredentialsError(f"{config} is not readable JSON ({exc}).\n" + _kaggle_help()) from None
            if isinstance(data, dict) and data.get("username") and data.get("key"):
                return str(config)
            raise KaggleCredentialsError(f"{config} has no 'username' and 'key'.\n" + _kaggle_help())
        if (folder / "access_token").is_file():
            return str(folder / "access_token")
    username, key = _colab_secret("KAGGLE_USERNAME"), _colab_secret("KAGGLE_KEY")
    if username and key:
        os.environ["KAGGLE_USERNAME"], os.environ["KAGGLE_KEY"] = username, key
        return "Colab secrets (KAGGLE_USERNAME, KAGGLE_KEY)"
    token = _colab_secret("KAGGLE_API_TOKEN")
    if token:
        os.environ["KAGGLE_API_TOKEN"] = token
        return "Colab secret KAGGLE_API_TOKEN"
    raise KaggleCredentialsError("Kaggle credentials not found.\n" + _kaggle_help())


def _import_kaggle(where: str) -> Any:
    try:
        # Importing kaggle authenticates at once: only ever done after kaggle_credentials() found something.
        return importlib.import_module("kaggle")
    except ImportError:
        raise MissingBackendError("Kaggle downloads need the kaggle package: pip install 'eg3d-face-toolkit[datasets]' "
                                  "(or pip install kaggle six)") from None
    except SystemExit:  # old versions exit on import when the credentials are rejected
        raise KaggleCredentialsError(f"Kaggle rejected the credentials from {where}.\n" + _kaggle_help()) from None


def fetch_kaggle(source: KaggleSource, dest: Path, *, progress: bool) -> Path:
    slug = source.dataset
    if not slug:
        raise KaggleDatasetUnknownError(
            "the Kaggle dataset of this source is not known to the toolkit: find it on kaggle.com/datasets and "
            "pass it as owner/name (KaggleSource(dataset='owner/name'); command line: --kaggle-dataset OWNER/NAME)")
    if slug.count("/") not in (1, 3) or not all(slug.split("/")):
        raise KaggleDatasetUnknownError(f"{slug!r} is not a Kaggle dataset name: expected owner/name, as in "
                                        "kaggle.com/datasets/owner/name")
    where = kaggle_credentials()
    kaggle = _import_kaggle(where)
    key = source_key(source)
    part = store.part_dir(dest, key)  # stable: kaggle resumes its partial downloads found here
    downloads, content = part / "downloads", part / "content"
    try:
        api = kaggle.KaggleApi()
        api.authenticate()
        shutil.rmtree(content, ignore_errors=True)
        if source.files is None:
            api.dataset_download_files(slug, path=str(downloads), quiet=not progress, unzip=False)
            archives = sorted(downloads.glob("*.zip"))
            if not archives:
                raise DownloadError(f"Kaggle sent no archive for {slug} into {downloads}")
            extract_archive(archives[0], content, progress=progress)
            archives[0].unlink()
        else:
            content.mkdir(parents=True, exist_ok=True)
            for name in source.files:
                api.dataset_download_file(slug, name, path=str(downloads), quiet=not progress)
                base = PurePosixPath(name).name
                plain, zipped = downloads / base, downloads / f"{base}.zip"
                if plain.is_file():
                    os.replace(plain, content / base)
                elif zipped.is_file():  # Kaggle compresses large single files on the way
                    extract_archive(zipped, content, progress=progress)
                    zipped.unlink()
                else:
                    raise DownloadError(f"Kaggle sent no file {name!r} of {slug} into {downloads}")
    except (DownloadError, MissingBackendError):
        store.drop_if_empty(part)
        raise
    except SystemExit:  # kaggle's authenticate() exits when the credentials are refused
        store.drop_if_empty(part)
        raise KaggleCredentialsError(f"Kaggle rejected the credentials from {where}.\n" + _kaggle_help()) from None
    except Exception as exc:  # noqa: BLE001 -- the kaggle package's errors (HTTP, requests) vary by version
        store.drop_if_empty(part)
        raise DownloadError(
            f"Kaggle download of {slug} failed ({type(exc).__name__}: {exc}). 403: open {source.page} while signed "
            "in and accept the dataset's rules or licence; 404: check the owner/name; 401: renew the API token."
        ) from None
    # One requested file that arrived as itself is the result; anything else is the folder.
    single = PurePosixPath(source.files[0]).name if source.files is not None and len(source.files) == 1 else None
    result = single if single is not None and (content / single).is_file() else "."
    store.install(content, dest, key, {"source": source_record(source), "result": result})
    shutil.rmtree(part, ignore_errors=True)
    return store.cached_result(dest, key) or dest


