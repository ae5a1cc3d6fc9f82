"""Where data can be fetched from: typed download sources for :func:`helpers.download.fetcher.fetch`, their stable keys
and one-line descriptions, and the errors particular to them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from helpers.download.http_download import DownloadError

__all__ = [
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
    "source_key",
    "source_record",
]


class MissingBackendError(ImportError):
    """A back-end's package (gdown, kaggle, huggingface_hub) is not installed; the message has the pip command."""


class KaggleCredentialsError(DownloadError):
    """No Kaggle credentials were found (or Kaggle rejected them); the message lists the three ways to give them."""


class KaggleDatasetUnknownError(DownloadError):
    """A Kaggle source without a dataset slug: the user must name it (``owner/name``)."""


class ManualDownloadError(DownloadError):
    """A source that cannot be downloaded by a program (registration, a browser-only page)."""


@dataclass(frozen=True)
class HttpSource:
    """A file at an http(s) URL, fetched with :func:`helpers.download.http_download.download`.

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


def source_record(source: Source) -> dict[str, Any]:
    """The source as plain data (its kind and fields), as completion markers record it."""
    return {"kind": source.kind, **dataclasses.asdict(source)}


def source_key(source: Source) -> str:
    """Stable short name of a source (kind + hash of all its fields): names its marker and partial folder."""
    identity = json.dumps(source_record(source), sort_keys=True)
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


