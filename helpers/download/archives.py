"""Unpacking downloaded archives (.zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz) safely: members whose paths would
leave the target folder, links and special files are refused; a file that cannot be read as an archive raises
:class:`BadArchiveError`. Used by :mod:`helpers.download.fetcher`."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from helpers.download.http_download import DownloadError

__all__ = ["ARCHIVE_SUFFIXES", "BadArchiveError", "archive_stem", "extract_archive", "is_archive"]

#: File name endings treated as archives (unpacked unless a source says ``unpack=False``).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_archive(name: str) -> bool:
    """Whether a file name ends like an archive this module unpacks (:data:`ARCHIVE_SUFFIXES`)."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def archive_stem(name: str) -> str:
    lower = name.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


class BadArchiveError(DownloadError):
    """A file that should be an archive cannot be read as one."""


def _safe_member(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise DownloadError(f"{archive}: refusing to unpack member {name!r} (its path leaves the target folder)")
    return path


def extract_archive(archive: Path, target: Path, *, progress: bool) -> None:
    """Unpack ``archive`` into ``target`` (created), refusing members whose paths leave it."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                members = zf.infolist()
                for info in members:
                    _safe_member(info.filename, archive)
                    if stat.S_ISLNK(info.external_attr >> 16):
                        raise DownloadError(f"{archive}: refusing to unpack symbolic link {info.filename!r}")
                for info in tqdm(members, desc=f"unpack {archive.name}", unit="file", disable=not progress):
                    zf.extract(info, target)
        else:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for member in members:
                    _safe_member(member.name, archive)
                    if not (member.isfile() or member.isdir()):
                        raise DownloadError(f"{archive}: refusing to unpack {member.name!r} (not a file or folder)")
                for member in tqdm(members, desc=f"unpack {archive.name}", unit="file", disable=not progress):
                    if hasattr(tarfile, "data_filter"):  # Python ≥ 3.10.12 / 3.11.4: the safe filter, no warning
                        tf.extract(member, target, filter="data")
                    else:
                        tf.extract(member, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise BadArchiveError(f"{archive} is not a readable archive ({exc}); it was deleted: download it again, or by "
                          "hand if the server sends a web page instead of the file") from None
    except OSError as exc:
        raise DownloadError(f"cannot unpack {archive} into {target}: {exc} (disk full?)") from None
