"""Where fetched content lands: partial folders, atomic installation into the destination, completion markers,
archive unpacking (the conventions of :mod:`helpers.download.fetcher`)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from helpers.base.atomic import write_text_atomic
from helpers.download.archives import archive_stem, extract_archive
from helpers.download.http_download import DownloadError

#: Folder (inside ``dest``) holding one completion marker per fetched source.
MARKER_DIR = ".fetched"


def unpack_into(archive: Path, dest: Path, key: str, record: dict[str, Any], *, progress: bool) -> None:
    """Unpack into a hidden sibling of ``dest``, then install it (atomic rename when ``dest`` is new)."""
    staging = dest.parent / f".{dest.name}.unpack-{uuid.uuid4().hex[:8]}"
    try:
        extract_archive(archive, staging, progress=progress)
        install(staging, dest, key, {**record, "result": "."})
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def extract_beside(archive: Path, *, progress: bool) -> None:
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


def part_dir(dest: Path, key: str) -> Path:
    return dest.parent / f".{dest.name}.{key}.part"


def marker_path(dest: Path, key: str) -> Path:
    return dest / MARKER_DIR / f"{key}.json"


def read_marker(dest: Path, key: str) -> dict[str, Any]:
    try:
        data = json.loads(marker_path(dest, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_result(dest: Path, key: str) -> Path | None:
    record = read_marker(dest, key)
    entries = record.get("entries")
    if not isinstance(entries, list) or not all((dest / name).exists() for name in entries):
        return None
    result = record.get("result", ".")
    return dest if result == "." else dest / result


def remove_entry(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def drop_if_empty(part: Path) -> None:
    """Remove a partial-download folder that holds no file (nothing to resume), e.g. after an offline attempt."""
    if part.is_dir() and not any(p.is_file() for p in part.rglob("*")):
        shutil.rmtree(part, ignore_errors=True)


def remove_empty_dir(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def install(content: Path, dest: Path, key: str, record: dict[str, Any]) -> None:
    """Make ``content``'s entries ``dest``'s, then write the marker (last: a folder without it is incomplete)."""
    entries = sorted(p.name for p in content.iterdir() if p.name != MARKER_DIR)
    record = {**record, "entries": entries, "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    try:
        if dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        if not dest.exists():
            write_text_atomic(marker_path(content, key), text)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(content, dest)  # one rename: the folder appears complete or not at all
            return
        if not dest.is_dir():
            raise DownloadError(f"{dest} exists and is not a folder: choose another destination")
        ours = set(read_marker(dest, key).get("entries") or [])  # an earlier fetch of this very source
        clashes = [name for name in entries if name not in ours and (dest / name).exists()]
        if clashes:
            raise DownloadError(f"{dest} already holds {', '.join(clashes[:5])}{' …' if len(clashes) > 5 else ''}, "
                                "which this download would replace: remove them or choose another destination")
        for name in entries:
            if (dest / name).exists() or (dest / name).is_symlink():
                remove_entry(dest / name)
            os.replace(content / name, dest / name)
        write_text_atomic(marker_path(dest, key), text)
    except OSError as exc:
        raise DownloadError(f"cannot move the download into {dest}: {exc}") from None
