"""The toolkit's dataset folder: layout, manifest, ``meta.json`` and EG3D's ``dataset.json``.

Layout (README, "Data formats")::

    <dataset>/
      meta.json                 generator, checkpoint sha256, settings, package version, date
      dataset.json              EG3D labels {"labels": [["images/<id>.png", [25 floats]], ...]}
      manifest.jsonl            one JSON line per completed sample (sharded runs:
                                manifest.shardIII-of-NNN.jsonl until `python -m helpers merge`)
      images/<id>.png           RGB
      depth/<id>.png            16-bit z-depth between meta.json's near/far, 0 = no surface
      mask/<id>.png             8-bit opacity
      latents/<id>.npy          w (512,) float32, or ws (num_ws, 512) when layers differ
      cameras/<id>.npy          (25,) float32
      meshes/<id>.ply|.obj      optional, EG3D world units, same frame as the camera
      meshes/<id>.mrc           optional raw density volume
      depth128x128/, cam_poses/, latent/   optional copies in the original project's formats

**Visibility rule.** A sample exists when its line is in a manifest, and a line is appended only
after all the sample's files were written (each under a temporary name, then renamed). Files of
a sample that has no line yet are leftovers of an interrupted run: they are ignored and
overwritten. A line cut short by a crash (no trailing newline) is ignored and repaired.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.atomic import atomic_path, write_text_atomic

FORMAT_NAME = "eg3d-face-toolkit/dataset"
FORMAT_VERSION = 1

META = "meta.json"
DATASET_JSON = "dataset.json"
MANIFEST = "manifest.jsonl"
_SHARD_MANIFEST = "manifest.shard{index:03d}-of-{count:03d}.jsonl"
_MANIFEST_GLOB = "manifest*.jsonl"

#: Sample sub-folders (file kind -> folder). Every path in a manifest line is relative to the dataset root.
FOLDERS: dict[str, str] = {
    "image": "images",
    "depth": "depth",
    "mask": "mask",
    "latent": "latents",
    "camera": "cameras",
    "mesh": "meshes",
    "mrc": "meshes",
    "legacy_depth": "depth128x128",
    "legacy_camera": "cam_poses",
    "legacy_latent": "latent",
}

# Temporary names made by helpers.atomic.atomic_path: ".<stem>.<12 hex>.tmp<suffix>".
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.[A-Za-z0-9]+)?$")


class DatasetFolderError(RuntimeError):
    """A dataset folder is missing files or was made with other settings."""


def sample_id(seed: int) -> str:
    """File stem of the sample generated from ``seed``: ``seed00000042``."""
    if seed < 0:
        raise ValueError(f"seeds must be >= 0, got {seed}")
    return f"seed{int(seed):08d}"


def shard_manifest_name(index: int, count: int) -> str:
    """Manifest file name of shard ``index`` (0-based) of ``count``."""
    return _SHARD_MANIFEST.format(index=index, count=count)


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


def remove_temporaries(root: str | os.PathLike[str]) -> int:
    """Delete temporary files an interrupted run left in the sample folders; returns how many."""
    root = Path(root)
    removed = 0
    for folder in {root, *(root / name for name in FOLDERS.values())}:
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if entry.is_file() and _TEMPORARY.match(entry.name):
                os.unlink(entry.path)
                removed += 1
    return removed


def read_meta(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``meta.json`` of a folder, or None when there is none."""
    path = Path(root) / META
    if not path.exists():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_NAME:
        raise DatasetFolderError(f"{path} is not a {FORMAT_NAME} meta.json (format={meta.get('format')!r})")
    return meta


def write_meta(root: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    return write_text_atomic(Path(root) / META, json.dumps(meta, indent=2) + "\n")


def prepare_folder(root: str | os.PathLike[str], meta: dict[str, Any], *,
                   keys: tuple[str, ...] = ("generator", "settings"),
                   clean: bool = True) -> dict[str, dict[str, Any]]:
    """Open a dataset folder for writing (new, or resumed): create it, write ``meta`` (or refuse a folder whose
    meta.json differs in ``keys``, see :func:`check_compatible`), delete temporaries of an interrupted run (unless
    ``clean`` is False: other shards may be writing right now), and return the samples already there
    (:func:`read_samples`)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    existing = read_meta(root)
    if existing is None:
        write_meta(root, meta)
    else:
        check_compatible(existing, meta, root, keys)
    if clean:
        remove_temporaries(root)
    return read_samples(root)


def settings_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested settings dicts."""
    diffs = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += settings_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            diffs.append(f"{prefix}{key}: {va!r} vs {vb!r}")
    return diffs


def check_compatible(existing: dict[str, Any], new: dict[str, Any], where: str | os.PathLike[str],
                     keys: tuple[str, ...] = ("generator", "settings")) -> None:
    """Samples of two runs may share a folder only if the meta.json ``keys`` (generator and settings; converters
    add ``source``) are the same."""
    diffs = settings_differences({k: existing.get(k, {}) for k in keys}, {k: new.get(k, {}) for k in keys})
    if diffs:
        raise DatasetFolderError(
            f"{where} holds samples made with other settings ({'; '.join(diffs[:6])}). "
            "Use the same options to resume, or another --out folder."
        )


def write_dataset_json(root: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> Path:
    """EG3D's ``dataset.json``: ``{"labels": [[image path, 25 floats], ...]}`` sorted by image path,
    as EG3D's ``ImageFolderDataset`` reads it (paths relative to the dataset root)."""
    labels = sorted(([r["files"]["image"], list(r["camera"])] for r in records), key=lambda item: item[0])
    return write_text_atomic(Path(root) / DATASET_JSON, json.dumps({"labels": labels}) + "\n")


def _sort_key(record: dict[str, Any]) -> tuple[int, str]:
    return (int(record.get("seed", -1)), record["id"])


def consolidate(root: str | os.PathLike[str]) -> int:
    """Fold every manifest of ``root`` into ``manifest.jsonl`` (sorted by seed), remove the shard
    manifests and rewrite ``dataset.json``. Crash-safe: the union is written atomically before
    any shard manifest is removed. Returns the number of samples."""
    root = Path(root)
    records = sorted(read_samples(root).values(), key=_sort_key)
    text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    write_text_atomic(root / MANIFEST, text)
    for path in manifest_paths(root):
        if path.name != MANIFEST:
            path.unlink()
    write_dataset_json(root, records)
    return len(records)


def _copy_file(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)  # same file system: no copy
        except OSError:
            shutil.copyfile(src, tmp)


def merge_folders(out: str | os.PathLike[str], sources: Iterable[str | os.PathLike[str]] = ()) -> int:
    """Combine dataset folders into ``out``.

    Samples of each source (and the shard manifests already inside ``out``) are added to ``out``:
    files are hard-linked (or copied) under temporary names first, the manifest line comes last.
    All folders must have been made with the same generator and settings. Ids already in ``out``
    are kept. Finally :func:`consolidate` writes one ``manifest.jsonl`` and ``dataset.json``.
    Returns the number of samples in ``out``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_temporaries(out)  # merging runs after every shard finished: leftovers are from crashes
    meta = read_meta(out)
    for source in map(Path, sources):
        if source.resolve() == out.resolve():
            continue
        source_meta = read_meta(source)
        if source_meta is None:
            raise DatasetFolderError(f"{source} has no {META}: not a dataset folder")
        if meta is None:
            meta = {**source_meta, "merged_from": []}
        else:
            check_compatible(meta, source_meta, source)
        meta.setdefault("merged_from", []).append(str(source))
        write_meta(out, meta)
        have = read_samples(out)
        with ManifestWriter(out / MANIFEST) as writer:
            for record in sorted(read_samples(source).values(), key=_sort_key):
                if record["id"] in have:
                    continue
                check_sample_files(source, [record])
                for rel in iter_files(record):
                    _copy_file(source / rel, out / rel)
                writer.append(record)
    return consolidate(out)


# --------------------------------------------------------------------------------------------
# Reading samples
# --------------------------------------------------------------------------------------------


@dataclass
class Sample:
    """One sample of a dataset folder, loaded.

    image: (H, W, 3) uint8; depth: (R, R) float32 z-depth in world units (0 = no surface);
    mask: (R, R) float32 opacity in [0, 1]; camera: (25,) float32 EG3D vector; latent: w (512,)
    or ws (num_ws, 512); mesh_path: the mesh file if the sample has one. Converted photo collections
    (e.g. LPFF: image and camera only) have no depth, mask or latent, converted Prosopo no camera: those are None.
    """

    id: str
    record: dict[str, Any]
    image: np.ndarray
    depth: np.ndarray | None
    mask: np.ndarray | None
    camera: np.ndarray | None
    latent: np.ndarray | None
    mesh_path: Path | None


class DatasetFolder:
    """Read access to a dataset folder: ``len``, ``ids``, ``records``, ``load(id or index)``.

    ``near`` / ``far`` are the depth PNGs' range, None for a folder without depth maps (e.g. converted LPFF).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        meta = read_meta(self.root)
        if meta is None:
            raise DatasetFolderError(f"{self.root} has no {META}: not a dataset folder of this toolkit")
        self.meta = meta
        self.records = read_samples(self.root)
        self.ids = sorted(self.records)
        depth = meta.get("depth_png") or {}
        self.near: float | None = float(depth["near"]) if "near" in depth else None
        self.far: float | None = float(depth["far"]) if "far" in depth else None

    @property
    def has_depth(self) -> bool:
        """Whether the folder stores depth maps (its meta.json gives their near/far)."""
        return self.near is not None and self.far is not None

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, key: str | int) -> Sample:
        from PIL import Image

        from helpers.depth_png import read_depth_png

        sample_key = self.ids[key] if isinstance(key, int) else key
        record = self.records[sample_key]
        files = {k: self.root / v for k, v in record["files"].items()}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise DatasetFolderError(f"sample {sample_key}: missing files {missing}")
        with Image.open(files["image"]) as im:
            image = np.asarray(im.convert("RGB"))
        mask = depth = None
        if "mask" in files:
            with Image.open(files["mask"]) as im:
                mask = np.asarray(im).astype(np.float32) / 255.0
        if "depth" in files:
            if self.near is None or self.far is None:
                raise DatasetFolderError(f"{self.root}: sample {sample_key} has a depth map but {META} gives no "
                                         "depth_png near/far to decode it")
            depth = read_depth_png(files["depth"], self.near, self.far)
        camera = np.load(files["camera"]) if "camera" in files else (
            np.asarray(record["camera"], np.float32) if "camera" in record else None)
        return Sample(
            id=sample_key, record=record, image=image, depth=depth, mask=mask, camera=camera,
            latent=np.load(files["latent"]) if "latent" in files else None, mesh_path=files.get("mesh"),
        )
