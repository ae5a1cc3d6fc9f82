"""Manifests of a dataset folder: which samples are complete, appending crash-safely, merging shard manifests.

**Visibility rule.** A sample exists when its line is in a manifest, and a line is appended only after all the
sample's files were written (each under a temporary name, then renamed). Files of a sample that has no line yet are
leftovers of an interrupted run: they are ignored and overwritten. A line cut short by a crash (no trailing newline)
is ignored and repaired. Sharded runs write ``manifest.shardIII-of-NNN.jsonl`` until :func:`consolidate`; while a
shard writes it holds the lock of :func:`shard_lock_folder`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from helpers.base.atomic import write_text_atomic
from helpers.dataset_folder.layout import DATASET_JSON, MANIFEST, DatasetFolderError

_SHARD_MANIFEST = "manifest.shard{index:03d}-of-{count:03d}.jsonl"
_SHARD_MANIFEST_NAME = re.compile(r"^manifest\.shard(\d+)-of-(\d+)\.jsonl$")
_MANIFEST_GLOB = "manifest*.jsonl"
_SHARD_LOCKS = ".locks"


def shard_manifest_name(index: int, count: int) -> str:
    """Manifest file name of shard ``index`` (0-based) of ``count``."""
    return _SHARD_MANIFEST.format(index=index, count=count)


def shard_manifests(root: str | os.PathLike[str]) -> dict[tuple[int, int], Path]:
    """(index, count) → path of every shard manifest in the folder."""
    found = {}
    for path in Path(root).glob(_MANIFEST_GLOB):
        match = _SHARD_MANIFEST_NAME.match(path.name)
        if match:
            found[int(match[1]), int(match[2])] = path
    return dict(sorted(found.items()))


def shard_lock_folder(root: str | os.PathLike[str], index: int, count: int) -> Path:
    """Folder whose lock (:func:`helpers.base.folder_lock.folder_lock`) shard ``index`` of ``count`` holds while it
    writes into ``root``: ``<root>/.locks/shardIII-of-NNN``."""
    return Path(root) / _SHARD_LOCKS / f"shard{index:03d}-of-{count:03d}"


def manifest_paths(root: str | os.PathLike[str]) -> list[Path]:
    """Every manifest of the folder: ``manifest.jsonl`` first, then shard manifests by name."""
    root = Path(root)
    paths = sorted(root.glob(_MANIFEST_GLOB))
    return sorted(paths, key=lambda p: (p.name != MANIFEST, p.name))


def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records of one manifest file. A last line without a newline (a write cut by a crash) is
    ignored; any other malformed line is an error that names the file and line."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete, _torn = lines[:-1], lines[-1]  # the text after the last newline is not committed
    records = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetFolderError(f"{path}:{number}: not a JSON line ({exc})") from None
        if not isinstance(record, dict) or "id" not in record:
            raise DatasetFolderError(f"{path}:{number}: a manifest line must be an object with an 'id'")
        records.append(record)
    return records


def read_samples(root: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """All completed samples of a folder, id -> manifest record (union of its manifests; the
    first record of an id wins, as after an interrupted merge the same line can appear twice)."""
    samples: dict[str, dict[str, Any]] = {}
    for path in manifest_paths(root):
        for record in read_manifest(path):
            samples.setdefault(record["id"], record)
    return samples


def iter_files(record: dict[str, Any]) -> Iterator[str]:
    """Relative paths of every file of a manifest record."""
    yield from record.get("files", {}).values()


def check_sample_files(root: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Raise :class:`DatasetFolderError` naming the first samples whose files are missing."""
    root = Path(root)
    missing = [f"{r['id']}: {rel}" for r in records for rel in iter_files(r) if not (root / rel).is_file()]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise DatasetFolderError(f"{root}: files listed in the manifest are missing: {', '.join(missing[:5])}{more}")


class ManifestWriter:
    """Appends records to a manifest, one ``write`` per line, flushed to disk.

    Opening repairs a line torn by a crash (truncates the file after its last newline), so the next
    record starts on a line of its own.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._repair()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _repair(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        os.write(self._fd, line)  # O_APPEND: one write call, never interleaved mid-line
        if self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_dataset_json(root: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> Path:
    """EG3D's ``dataset.json``: ``{"labels": [[image path, 25 floats], ...]}`` sorted by image path,
    as EG3D's ``ImageFolderDataset`` reads it (paths relative to the dataset root)."""
    labels = sorted(([r["files"]["image"], list(r["camera"])] for r in records), key=lambda item: item[0])
    return write_text_atomic(Path(root) / DATASET_JSON, json.dumps({"labels": labels}) + "\n")


def record_order(record: dict[str, Any]) -> tuple[int, str]:
    """Sort key of manifest records: by seed (records without one first), then by id."""
    return (int(record.get("seed", -1)), record["id"])


def consolidate(root: str | os.PathLike[str]) -> int:
    """Fold every manifest of ``root`` into ``manifest.jsonl`` (sorted by seed), remove the shard
    manifests and rewrite ``dataset.json``. Crash-safe: the union is written atomically before
    any shard manifest is removed. Returns the number of samples."""
    root = Path(root)
    records = sorted(read_samples(root).values(), key=record_order)
    text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    write_text_atomic(root / MANIFEST, text)
    for path in manifest_paths(root):
        if path.name != MANIFEST:
            path.unlink()
    write_dataset_json(root, records)
    return len(records)
