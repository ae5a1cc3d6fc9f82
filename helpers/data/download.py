"""Fetch data from HTTP(S), Google Drive, Kaggle or the Hugging Face Hub into a folder: cached, verified, atomic.

One entry point, :func:`fetch`, dispatching on a typed source (back-ends are imported only when used):

- :class:`HttpSource`: :func:`helpers.download.download` (urllib); the file, or the folder its archive unpacks to.
- :class:`GoogleDriveSource`: ``gdown`` (``pip install gdown``); a file (archives unpacked) or a whole folder.
- :class:`KaggleSource`: the ``kaggle`` package (``pip install kaggle``); the folder the dataset unpacks to.
- :class:`HuggingFaceSource`: ``huggingface_hub``; one file, or a snapshot folder (archives in it unpacked).
- :class:`ManualSource`: no back-end; an error that says which page to open (registration, browser-only shares).

Conventions
-----------
* ``dest`` is a **folder**. A plain file lands as ``dest/<name>`` and :func:`fetch` returns that file; an archive
  (``.zip``, ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``, ``.tar.xz``), a Kaggle dataset, a Drive folder or a Hub
  snapshot is unpacked **into** ``dest`` and :func:`fetch` returns ``dest``. ``dest=None`` means a folder in the
  cache: ``<cache>/sources/<key>`` (plain HTTP files: ``<cache>/<name>``, the downloader's own cache), where
  ``<cache>`` is ``cache_dir`` or :func:`helpers.download.default_cache_dir` (``$HELPERS_CACHE``).
* **Atomic**: content is prepared in a hidden sibling of ``dest`` (same file system), then renamed to ``dest`` in
  one step when ``dest`` does not exist (or is empty); otherwise its top-level entries are renamed into ``dest``
  one by one. Either way the completion marker ``dest/.fetched/<key>.json`` is written last, so a folder without
  it is incomplete and is fetched again. Entries that already exist in ``dest`` and do not come from an earlier
  fetch of the same source are never overwritten: that is an error naming them.
* **Cache hit**: when the marker exists and every entry it lists is there, :func:`fetch` returns at once: no
  network, no back-end import, no credentials. Plain HTTP files use the downloader's own cache (sidecar
  ``<file>.json`` with the sha256).
* **Resume**: HTTP with ``Range`` requests (:mod:`helpers.download`); gdown and Kaggle resume their partial files
  in the stable hidden sibling ``.<dest name>.<key>.part/``; the Hub resumes its ``.incomplete`` files there.
* **Verification**: size and sha256 when the source gives them (HTTP, Drive files). A mismatch raises
  :class:`~helpers.download.ChecksumError` and leaves nothing under the final name.
* **Archives** are unpacked with path checks (no absolute paths, no ``..``, no links leaving the folder); the
  downloaded archive is deleted after unpacking unless ``keep_archive=True``.
* **Errors** are :class:`~helpers.download.DownloadError` (and subclasses) saying what failed and what to do; a
  missing back-end package is an :class:`ImportError` with the ``pip install`` command.

Kaggle credentials (:func:`kaggle_credentials`) are looked up *before* ``kaggle`` is imported, because importing
it without credentials prints an authentication banner (and older versions exit): environment variables
``KAGGLE_USERNAME`` + ``KAGGLE_KEY`` (or ``KAGGLE_API_TOKEN``), ``kaggle.json`` (or ``access_token``) in
``$KAGGLE_CONFIG_DIR``, ``~/.kaggle`` or ``~/.config/kaggle``, then Colab secrets of the same names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from tqdm.auto import tqdm

from helpers.atomic import write_text_atomic
from helpers.data.archives import (  # re-exported: ARCHIVE_SUFFIXES, is_archive
    ARCHIVE_SUFFIXES,
    BadArchiveError,
    archive_stem,
    extract_archive,
    is_archive,
)
from helpers.download import ChecksumError, DownloadError, default_cache_dir, download, sha256_file

__all__ = [
    "ARCHIVE_SUFFIXES",
    "MARKER_DIR",
    "GoogleDriveSource",
    "HttpSource",
    "HuggingFaceSource",
    "KaggleCredentialsError",
    "KaggleDatasetUnknownError",
    "KaggleSource",
    "ManualDownloadError",
    "ManualSource",
    "MissingBackendError",
    "Source",
    "describe",
    "fetch",
    "is_archive",
    "is_fetched",
    "kaggle_credentials",
    "source_key",
]

#: Folder (inside ``dest``) holding one completion marker per fetched source.
MARKER_DIR = ".fetched"

_KAGGLE_TOKEN_PAGE = "https://www.kaggle.com/settings"


class MissingBackendError(ImportError):
    """The package a back-end needs (gdown, kaggle, huggingface_hub) is not installed; the message has the pip command."""


class KaggleCredentialsError(DownloadError):
    """No Kaggle credentials were found (or Kaggle rejected them); the message lists the three ways to give them."""


class KaggleDatasetUnknownError(DownloadError):
    """A Kaggle source without a dataset slug: the user must name it (``owner/name``)."""


class ManualDownloadError(DownloadError):
    """A source that cannot be downloaded by a program (registration, a browser-only page)."""


# ------------------------------------------------------------------------------------------------ sources
@dataclass(frozen=True)
class HttpSource:
    """A file at an http(s) URL, fetched with :func:`helpers.download.download`.

    Attributes:
        url: the file's URL.
        sha256, size: expected hex sha256 / byte count, verified when given.
        filename: name of the file (default: the last part of the URL's path).
        unpack: unpack it as an archive: True, False, or None = by the file name's ending.
    """

    url: str
    sha256: str | None = None
    size: int | None = None
    filename: str | None = None
    unpack: bool | None = None
    kind: ClassVar[str] = "http"

    @property
    def page(self) -> str:
        return self.url


@dataclass(frozen=True)
class GoogleDriveSource:
    """A Google Drive file or folder, fetched with ``gdown`` (exactly one of ``file_id`` and ``folder_id``).

    Attributes:
        file_id, folder_id: the id in ``drive.google.com/file/d/<id>`` / ``drive.google.com/drive/folders/<id>``.
        filename: name to save a file under (default: the name Drive sends).
        sha256, size: of a file, verified when given.
        resource_key: the ``resourcekey`` of an old shared link; shown on the page URL for a manual download
            (gdown does not forward it, so such files may only download by hand).
        unpack: unpack a downloaded file as an archive: True, False, or None = by its name's ending.
    """

    file_id: str | None = None
    folder_id: str | None = None
    filename: str | None = None
    sha256: str | None = None
    size: int | None = None
    resource_key: str | None = None
    unpack: bool | None = None
    kind: ClassVar[str] = "google-drive"

    def __post_init__(self) -> None:
        if (self.file_id is None) == (self.folder_id is None):
            raise ValueError("GoogleDriveSource needs exactly one of file_id and folder_id")

    @property
    def page(self) -> str:
        """The web page of the file or folder (for downloading it by hand)."""
        if self.folder_id is not None:
            return f"https://drive.google.com/drive/folders/{self.folder_id}"
        key = f"?resourcekey={self.resource_key}" if self.resource_key else ""
        return f"https://drive.google.com/file/d/{self.file_id}/view{key}"


@dataclass(frozen=True)
class KaggleSource:
    """A Kaggle dataset, fetched with the ``kaggle`` package.

    Attributes:
        dataset: ``"owner/name"`` as in ``kaggle.com/datasets/owner/name`` (``"owner/name/versions/N"`` pins a
            version); None when it is not known (then :func:`fetch` asks for it).
        files: only these files of the dataset (paths as listed on Kaggle); None = the whole dataset.
    """

    dataset: str | None
    files: tuple[str, ...] | None = None
    kind: ClassVar[str] = "kaggle"

    def __post_init__(self) -> None:
        if self.files is not None and not isinstance(self.files, tuple):
            object.__setattr__(self, "files", tuple(self.files))  # a list would make the frozen class unhashable

    @property
    def page(self) -> str:
        return f"https://www.kaggle.com/datasets/{self.dataset}" if self.dataset else "https://www.kaggle.com/datasets"


@dataclass(frozen=True)
class HuggingFaceSource:
    """Files of a Hugging Face Hub repository, fetched with ``huggingface_hub``.

    Attributes:
        repo_id: ``"owner/name"``.
        filename: one file (path in the repository): ``hf_hub_download``; else a snapshot (``snapshot_download``).
        allow_patterns: for a snapshot, only the paths matching these glob patterns (None: everything).
        repo_type: ``"dataset"``, ``"model"`` or ``"space"``.
        revision: branch, tag or commit (None: the default branch).
        subfolder: for a snapshot, the repository folder whose content becomes ``dest``'s content.
        unpack: unpack archives among the downloaded files: a single-file archive into ``dest``, an archive in a
            snapshot into a folder beside it named after it (``crop/eg3d.zip`` → ``crop/eg3d/``), then delete it.
    """

    repo_id: str
    filename: str | None = None
    allow_patterns: tuple[str, ...] | None = None
    repo_type: str = "dataset"
    revision: str | None = None
    subfolder: str | None = None
    unpack: bool = True
    kind: ClassVar[str] = "hugging-face"

    def __post_init__(self) -> None:
        if self.filename is not None and self.allow_patterns is not None:
            raise ValueError("HuggingFaceSource takes filename (one file) or allow_patterns (a snapshot), not both")
        if self.allow_patterns is not None and not isinstance(self.allow_patterns, tuple):
            object.__setattr__(self, "allow_patterns", tuple(self.allow_patterns))

    @property
    def page(self) -> str:
        prefix = {"dataset": "datasets/", "space": "spaces/"}.get(self.repo_type, "")
        return f"https://huggingface.co/{prefix}{self.repo_id}"


@dataclass(frozen=True)
class ManualSource:
    """A place that needs a person (registration form, browser-only share): :func:`fetch` explains and stops.

    Attributes:
        url: the page to open.
        note: what to do there (password, form, which files).
    """

    url: str
    note: str = ""
    kind: ClassVar[str] = "manual"

    @property
    def page(self) -> str:
        return self.url


#: Any download source :func:`fetch` accepts.
Source = HttpSource | GoogleDriveSource | KaggleSource | HuggingFaceSource | ManualSource


def source_key(source: Source) -> str:
    """Stable short name of a source (kind + hash of all its fields): names its marker and partial folder."""
    identity = json.dumps({"kind": source.kind, **dataclasses.asdict(source)}, sort_keys=True)
    return f"{source.kind}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


def describe(source: Source) -> str:
    """One line saying where a source points (for tables and messages)."""
    if isinstance(source, HttpSource):
        return source.url
    if isinstance(source, GoogleDriveSource):
        return f"Google Drive {'folder' if source.folder_id else 'file'} {source.folder_id or source.file_id}"
    if isinstance(source, KaggleSource):
        files = f" ({', '.join(source.files)})" if source.files else ""
        return f"Kaggle {source.dataset or '<owner/name unknown>'}{files}"
    if isinstance(source, HuggingFaceSource):
        what = source.filename or (", ".join(source.allow_patterns) if source.allow_patterns else "all files")
        at = f"@{source.revision}" if source.revision else ""
        return f"Hugging Face {source.repo_type} {source.repo_id}{at}: {what}"
    return f"by hand: {source.url}"


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
        cache_dir: cache folder; default :func:`helpers.download.default_cache_dir`.
        progress: show progress bars (download and unpacking).
        keep_archive: keep a downloaded HTTP archive in ``<cache>/archives/`` after unpacking it.
        timeout, retries: for HTTP downloads (see :func:`helpers.download.download`).

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
    hit = _cached_result(folder, source_key(source))
    if hit is not None:
        return hit
    if isinstance(source, GoogleDriveSource):
        return _fetch_gdrive(source, folder, progress=progress)
    if isinstance(source, KaggleSource):
        return _fetch_kaggle(source, folder, progress=progress)
    if isinstance(source, HuggingFaceSource):
        return _fetch_hf(source, folder, progress=progress)
    raise TypeError(f"not a download source: {source!r}")


def is_fetched(source: Source, dest: str | os.PathLike[str]) -> bool:
    """Whether ``dest`` holds a complete earlier fetch of ``source`` (its marker and every entry it lists)."""
    if isinstance(source, HttpSource) and not _http_is_archive(source):
        return (Path(dest) / _http_name(source)).is_file()
    return _cached_result(Path(dest), source_key(source)) is not None


# ------------------------------------------------------------------------------------------------ HTTP
def _http_name(source: HttpSource) -> str:
    if source.filename:
        return source.filename
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(source.url).path)).name
    return name or hashlib.sha256(source.url.encode()).hexdigest()[:16]


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
    hit = _cached_result(folder, key)
    if hit is not None:
        return hit
    archive = download(source.url, cache / "archives" / key / name, **options)  # resumable, verified
    record = {"source": _record_of(source), "archive_sha256": sha256_file(archive)}
    try:
        _unpack_into(archive, folder, key, record, progress=progress)
    except BadArchiveError:
        keep_archive = False  # cached, it would be reused (its sha256 is recorded) and fail again every time
        raise
    finally:
        if not keep_archive:
            archive.unlink(missing_ok=True)
            archive.with_name(archive.name + ".json").unlink(missing_ok=True)  # the downloader's sidecar
            _remove_empty(archive.parent)
    return folder


# ------------------------------------------------------------------------------------------------ Google Drive
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


def _fetch_gdrive(source: GoogleDriveSource, dest: Path, *, progress: bool) -> Path:
    gdown = _import_gdown()
    key = source_key(source)
    part = _part_dir(dest, key)  # stable: gdown resumes its <name>XXXXXXXX.part files found here
    content = part / "content"
    part.mkdir(parents=True, exist_ok=True)
    record = {"source": _record_of(source)}
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
            _install(content, dest, key, {**record, "result": "."})
        else:
            target = str(part / source.filename) if source.filename else str(part) + os.sep
            got = _call_supported(gdown.download, id=source.file_id, output=target, quiet=not progress, resume=True)
            if not got or not Path(got).is_file():
                raise DownloadError(f"Google Drive file {source.file_id} was not downloaded: {hint}")
            path = Path(got)
            _verify(path, source.sha256, source.size, f"Google Drive file {source.file_id}")
            unpack = is_archive(path.name) if source.unpack is None else source.unpack
            if unpack:
                _unpack_into(path, dest, key, {**record, "archive_sha256": sha256_file(path)}, progress=progress)
            else:
                content.mkdir(parents=True, exist_ok=True)
                os.replace(path, content / path.name)
                _install(content, dest, key, {**record, "result": path.name})
    except (DownloadError, MissingBackendError):
        _drop_if_empty(part)
        raise
    except Exception as exc:  # noqa: BLE001 -- gdown's errors differ between versions (FileURLRetrievalError, requests)
        _drop_if_empty(part)
        raise DownloadError(f"Google Drive download of {describe(source)} failed ({type(exc).__name__}: {exc}); "
                            f"{hint}") from None
    shutil.rmtree(part, ignore_errors=True)
    return _cached_result(dest, key) or dest


# ------------------------------------------------------------------------------------------------ Kaggle
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
        raise MissingBackendError("Kaggle downloads need the kaggle package: pip install kaggle "
                                  "(if that fails to install: pip install kaggle==2.2.4 six)") from None
    except SystemExit:  # old versions exit on import when the credentials are rejected
        raise KaggleCredentialsError(f"Kaggle rejected the credentials from {where}.\n" + _kaggle_help()) from None


def _fetch_kaggle(source: KaggleSource, dest: Path, *, progress: bool) -> Path:
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
    part = _part_dir(dest, key)  # stable: kaggle resumes its partial downloads found here
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
        _drop_if_empty(part)
        raise
    except SystemExit:  # kaggle's authenticate() exits when the credentials are refused
        _drop_if_empty(part)
        raise KaggleCredentialsError(f"Kaggle rejected the credentials from {where}.\n" + _kaggle_help()) from None
    except Exception as exc:  # noqa: BLE001 -- the kaggle package's errors (HTTP, requests) vary by version
        _drop_if_empty(part)
        raise DownloadError(
            f"Kaggle download of {slug} failed ({type(exc).__name__}: {exc}). 403: open {source.page} while signed "
            "in and accept the dataset's rules or licence; 404: check the owner/name; 401: renew the API token."
        ) from None
    # One requested file that arrived as itself is the result; anything else is the folder.
    single = PurePosixPath(source.files[0]).name if source.files is not None and len(source.files) == 1 else None
    result = single if single is not None and (content / single).is_file() else "."
    _install(content, dest, key, {"source": _record_of(source), "result": result})
    shutil.rmtree(part, ignore_errors=True)
    return _cached_result(dest, key) or dest


# ------------------------------------------------------------------------------------------------ Hugging Face
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


def _fetch_hf(source: HuggingFaceSource, dest: Path, *, progress: bool) -> Path:
    hub = _import_hf()
    key = source_key(source)
    part = _part_dir(dest, key)
    local = part / "hub"  # stable: the Hub resumes its .incomplete files and skips complete ones found here
    common = {"repo_id": source.repo_id, "repo_type": source.repo_type, "revision": source.revision,
              "local_dir": str(local)}
    record = {"source": _record_of(source)}
    try:
        if source.filename is not None:
            got = Path(_call_hub(hub.hf_hub_download, progress, filename=source.filename, **common))
        else:
            patterns = list(source.allow_patterns) if source.allow_patterns is not None else None
            _call_hub(hub.snapshot_download, progress, allow_patterns=patterns, **common)
    except Exception as exc:  # noqa: BLE001 -- classified by name in _hf_error
        _drop_if_empty(part)
        raise _hf_error(exc, source, dest) from None
    if source.filename is not None:
        if source.unpack and is_archive(got.name):
            _unpack_into(got, dest, key, {**record, "archive_sha256": sha256_file(got)}, progress=progress)
        else:
            content = part / "content"
            shutil.rmtree(content, ignore_errors=True)
            content.mkdir(parents=True)
            os.replace(got, content / got.name)
            _install(content, dest, key, {**record, "result": got.name})
    else:
        shutil.rmtree(local / ".cache", ignore_errors=True)  # the Hub's bookkeeping for local_dir
        root = local / source.subfolder if source.subfolder else local
        if not root.is_dir() or not any(root.iterdir()):
            raise DownloadError(f"nothing of {describe(source)} was downloaded (no file matched"
                                f"{' in ' + source.subfolder if source.subfolder else ''}); see {source.page}")
        if source.unpack:
            for archive in sorted(p for p in root.rglob("*") if p.is_file() and is_archive(p.name)):
                _extract_beside(archive, progress=progress)
        _install(root, dest, key, {**record, "result": "."})
    shutil.rmtree(part, ignore_errors=True)
    return _cached_result(dest, key) or dest


def _unpack_into(archive: Path, dest: Path, key: str, record: dict[str, Any], *, progress: bool) -> None:
    """Unpack into a hidden sibling of ``dest``, then install it (atomic rename when ``dest`` is new)."""
    staging = dest.parent / f".{dest.name}.unpack-{uuid.uuid4().hex[:8]}"
    try:
        extract_archive(archive, staging, progress=progress)
        _install(staging, dest, key, {**record, "result": "."})
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_beside(archive: Path, *, progress: bool) -> None:
    """``a/b.zip`` → ``a/b/`` (without a doubled ``a/b/b/`` when the archive holds one folder ``b``); delete it."""
    stem = archive_stem(archive.name)
    staging = archive.with_name(f".{stem}.unpack-{uuid.uuid4().hex[:8]}")
    target = archive.with_name(stem)
    try:
        extract_archive(archive, staging, progress=progress)
        entries = list(staging.iterdir())
        inner = entries[0] if len(entries) == 1 and entries[0].is_dir() and entries[0].name == stem else staging
        if target.exists():
            raise DownloadError(f"cannot unpack {archive}: {target} already exists")
        os.replace(inner, target)
        archive.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ install/markers
def _part_dir(dest: Path, key: str) -> Path:
    return dest.parent / f".{dest.name}.{key}.part"


def _marker(dest: Path, key: str) -> Path:
    return dest / MARKER_DIR / f"{key}.json"


def _read_marker(dest: Path, key: str) -> dict[str, Any]:
    try:
        data = json.loads(_marker(dest, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _cached_result(dest: Path, key: str) -> Path | None:
    record = _read_marker(dest, key)
    entries = record.get("entries")
    if not isinstance(entries, list) or not all((dest / name).exists() for name in entries):
        return None
    result = record.get("result", ".")
    return dest if result == "." else dest / result


def _record_of(source: Source) -> dict[str, Any]:
    return {"kind": source.kind, **dataclasses.asdict(source)}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _drop_if_empty(part: Path) -> None:
    """Remove a partial-download folder that holds no file (nothing to resume), e.g. after an offline attempt."""
    if part.is_dir() and not any(p.is_file() for p in part.rglob("*")):
        shutil.rmtree(part, ignore_errors=True)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _install(content: Path, dest: Path, key: str, record: dict[str, Any]) -> None:
    """Make ``content``'s entries ``dest``'s, then write the marker (last: a folder without it is incomplete)."""
    entries = sorted(p.name for p in content.iterdir() if p.name != MARKER_DIR)
    record = {**record, "entries": entries, "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    try:
        if dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        if not dest.exists():
            write_text_atomic(_marker(content, key), text)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(content, dest)  # one rename: the folder appears complete or not at all
            return
        if not dest.is_dir():
            raise DownloadError(f"{dest} exists and is not a folder: choose another destination")
        ours = set(_read_marker(dest, key).get("entries") or [])  # an earlier fetch of this very source
        clashes = [name for name in entries if name not in ours and (dest / name).exists()]
        if clashes:
            raise DownloadError(f"{dest} already holds {', '.join(clashes[:5])}{' …' if len(clashes) > 5 else ''}, "
                                "which this download would replace: remove them or choose another destination")
        for name in entries:
            if (dest / name).exists() or (dest / name).is_symlink():
                _remove(dest / name)
            os.replace(content / name, dest / name)
        write_text_atomic(_marker(dest, key), text)
    except OSError as exc:
        raise DownloadError(f"cannot move the download into {dest}: {exc}") from None


def _verify(path: Path, sha256: str | None, size: int | None, what: str) -> None:
    if size is not None and path.stat().st_size != size:
        actual = path.stat().st_size
        path.unlink()
        raise ChecksumError(f"{what}: expected {size} bytes, got {actual}; the download was deleted")
    if sha256 is not None:
        digest = sha256_file(path)
        if digest != sha256.lower():
            path.unlink()
            raise ChecksumError(f"{what}: sha256 mismatch, expected {sha256.lower()}, got {digest}; "
                                "the download was deleted")

