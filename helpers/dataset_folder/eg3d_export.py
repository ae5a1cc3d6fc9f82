"""A dataset folder as EG3D's own training reads it: ``python -m helpers export-eg3d DATASET OUT``.

EG3D's ``ImageFolderDataset`` (``train.py --data``) takes *every* image file under the folder or zip it is given, by
its path relative to the root, and looks each one up in the root's ``dataset.json`` (``{"labels": [[name, [25
floats]], ...]}``). Our dataset folders also hold depth and mask PNGs, which it would take for images and find no
label for (``KeyError: 'depth/seed00000000.png'``). :func:`export_eg3d` writes what it can read: the samples' images
only (hard links where possible, else copies; stored, not recompressed, in a ``.zip``) and one label each.

- ``mirror``: also a left-right flipped copy of every image, ``<id>_mirror.png``, with the camera of the flipped image
  (:func:`helpers.base.cameras.flip_camera`), as EG3D's FFHQ preprocessing does. EG3D's own ``--mirror=1`` flips the
  images but not their cameras, so use this instead with camera-conditioned training.
- ``replicas``: samples with a ``replicas`` count in their manifest line (LPFF's pose rebalancing,
  :mod:`helpers.datasets.lpff`) are written that many times, ``<name>_00.png``, ``<name>_01.png``… (EG3D's replica
  names, :func:`replica_name`); a mirrored copy gets the count of its sample.
- ``merge_with``: an EG3D training folder or zip (FFHQ's, as EG3D's ``dataset_tool.py`` writes it): its images and
  labels come first, unchanged, and ours follow under EG3D's numbering continued from its count,
  ``{i // 1000:05d}/img{i:08d}.png`` (each image followed by its mirror), as LPFF's ``eg3d_dataset.py`` appends LPFF to
  FFHQ. The merged set is written to ``dest``; the folder merged with is only read.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from helpers.base import cameras
from helpers.base.atomic import atomic_path, link_or_copy, write_bytes_atomic, write_text_atomic
from helpers.dataset_folder.layout import DATASET_JSON, DatasetFolderError
from helpers.dataset_folder.manifest import check_sample_files, read_samples

__all__ = ["MIRROR_SUFFIX", "export_eg3d", "replica_name"]

#: What a mirrored image's name adds before its extension (EG3D's and LPFF's naming).
MIRROR_SUFFIX = "_mirror"


def replica_name(name: str, replica: int) -> str:
    """``"00000/img00000000.png"``, 3 → ``"00000/img00000000_03.png"``: EG3D's replica naming.

    EG3D inserts ``_NN`` before every "." of the name; this inserts it before the file's extension, which is the
    same for every name with one dot (all FFHQ and LPFF names) and keeps folders with dots intact.
    """
    path = PurePosixPath(name.replace("\\", "/"))
    return str(path.with_name(f"{path.stem}_{replica:02d}{path.suffix}"))


def _mirror_name(name: str) -> str:
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}{MIRROR_SUFFIX}{path.suffix}"))


@dataclass(frozen=True)
class _Entry:
    name: str  # path inside the export, "/"-separated
    source: Path
    flip: bool
    camera: list[float]


def _entries(root: Path, records: list[dict[str, Any]], *, mirror: bool, replicas: bool) -> list[_Entry]:
    counts = [r.get("replicas") for r in records] if replicas else [None] * len(records)
    if any(count is None for count in counts):
        counts = [None] * len(records)  # replicas only when every sample has its count
    entries = []
    for record, count in zip(records, counts):
        image = record["files"]["image"]
        camera = [float(v) for v in record["camera"]]
        variants = [(image, False, camera)]
        if mirror:
            flipped = cameras.flip_camera(record["camera"]).tolist()
            variants.append((_mirror_name(image), True, [float(v) for v in flipped]))
        for name, flip, label in variants:
            names = [name] if count is None else [replica_name(name, k) for k in range(int(count))]
            entries += [_Entry(n, root / image, flip, label) for n in names]
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise DatasetFolderError(f"two images of the export would be called {entry.name}"
                                     + (" (the folder already holds mirrored samples: export without --mirror)"
                                        if mirror and MIRROR_SUFFIX in entry.name else ""))
        seen.add(entry.name)
    return entries


def _flipped_png(source: Path) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(source) as image:
        buffer = io.BytesIO()
        ImageOps.mirror(image).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class _Base:
    """An EG3D training folder or zip to merge with: its labels in order, and its images' bytes or paths."""

    path: Path
    labels: list[list[Any]]

    @classmethod
    def open(cls, path: Path) -> _Base:
        try:
            if path.is_dir():
                text, names = (path / DATASET_JSON).read_text(encoding="utf-8"), None
            else:
                with zipfile.ZipFile(path) as archive:
                    text, names = archive.read(DATASET_JSON).decode("utf-8"), set(archive.namelist())
            labels = json.loads(text)["labels"]
            if not isinstance(labels, list) or not all(isinstance(e, list) and len(e) == 2 for e in labels):
                raise ValueError("labels is not a list of [name, camera] pairs")
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise DatasetFolderError(f"{path}: not an EG3D training folder or zip with a {DATASET_JSON} "
                                     f"({type(error).__name__}: {error}) — give FFHQ's folder or zip as EG3D's "
                                     "dataset_tool.py wrote it") from None
        missing = [n for n, _ in labels if not ((path / n).is_file() if names is None else n in names)]
        if missing:
            raise DatasetFolderError(f"{path}: {len(missing)} labelled images are missing (e.g. {missing[0]}) — "
                                     "give the complete folder or zip")
        return cls(path, labels)

    def numbered(self, entries: list[_Entry]) -> list[_Entry]:
        """``entries`` renamed with EG3D's numbering, continued after this set's images."""
        start = len(self.labels)
        return [_Entry(f"{(start + i) // 1000:05d}/img{start + i:08d}.png", e.source, e.flip, e.camera)
                for i, e in enumerate(entries)]


def _copy_base(base: _Base, dest: Path, archive: zipfile.ZipFile | None) -> None:
    """Put the merged set's own images into ``dest`` (links or copies) or ``archive`` (stored as they are)."""
    source = None if base.path.is_dir() else zipfile.ZipFile(base.path)
    try:
        for name, _ in base.labels:
            if archive is not None:
                if source is None:
                    archive.write(base.path / name, name)
                else:
                    archive.writestr(name, source.read(name))
            elif source is None:
                link_or_copy(base.path / name, dest / name)
            else:
                write_bytes_atomic(dest / name, source.read(name))
    finally:
        if source is not None:
            source.close()


def export_eg3d(root: str | os.PathLike[str], dest: str | os.PathLike[str], *, mirror: bool = False,
                replicas: bool = True, merge_with: str | os.PathLike[str] | None = None,
                progress: bool = True) -> Path:
    """Write the images of the dataset folder ``root`` and their ``dataset.json`` to ``dest`` (a new or empty
    folder, or a new ``.zip`` file) for EG3D's ``train.py --data dest`` (module doc: ``mirror``, ``replicas``,
    ``merge_with``).

    Returns ``dest``. Raises :class:`~helpers.dataset_folder.layout.DatasetFolderError` for a folder without samples
    or with missing files, for a ``merge_with`` that is not a complete EG3D folder or zip, and for a ``dest`` that is
    not new (or an empty folder).
    """
    from tqdm.auto import tqdm

    root, dest = Path(root), Path(dest)
    records = sorted(read_samples(root).values(), key=lambda r: r["id"])
    if not records:
        raise DatasetFolderError(f"{root}: no samples (no manifest lines): nothing to export — give a dataset "
                                 "folder written by generate, invert, merge or datasets convert")
    as_zip = dest.suffix.lower() == ".zip"
    if dest.exists() and (as_zip or not dest.is_dir() or any(dest.iterdir())):
        raise DatasetFolderError(f"{dest} already exists — export into a new (or empty) folder or a new .zip file")
    check_sample_files(root, records)
    entries = _entries(root, records, mirror=mirror, replicas=replicas)
    base = _Base.open(Path(merge_with)) if merge_with is not None else None
    if base is not None:
        entries = base.numbered(entries)
        taken = {name for name, _ in base.labels} & {e.name for e in entries}
        if taken:
            raise DatasetFolderError(f"{base.path} already has images named like the appended ones (e.g. "
                                     f"{sorted(taken)[0]}) — merge with the folder EG3D's dataset_tool.py wrote")
    prefix = base.labels if base is not None else []
    labels = json.dumps({"labels": [*prefix, *([e.name, e.camera] for e in entries)]}) + "\n"
    bar = tqdm(entries, desc="export for EG3D", unit="image", disable=not progress, leave=False)
    if as_zip:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            if base is not None:
                _copy_base(base, dest, archive)
            for entry in bar:  # PNGs are compressed already: stored as they are, as EG3D's dataset_tool does
                if entry.flip:
                    archive.writestr(entry.name, _flipped_png(entry.source))
                else:
                    archive.write(entry.source, entry.name)
            archive.writestr(DATASET_JSON, labels)
        return dest
    if base is not None:
        _copy_base(base, dest, None)
    flipped: dict[Path, Path] = {}
    for entry in bar:
        target = dest / entry.name
        if not entry.flip:
            link_or_copy(entry.source, target)
        elif entry.source in flipped:  # another replica of the same flipped image
            link_or_copy(flipped[entry.source], target)
        else:
            flipped[entry.source] = write_bytes_atomic(target, _flipped_png(entry.source))
    write_text_atomic(dest / DATASET_JSON, labels)  # last: marks a complete export
    return dest


# ------------------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", type=Path, help="a dataset folder (generate, invert, merge, datasets convert)")
    parser.add_argument("out", type=Path, help="a new folder, or a new .zip file, for EG3D's train.py --data")
    parser.add_argument("--mirror", action="store_true",
                        help="add a flipped copy of each image with the flipped camera (<id>_mirror.png); use this "
                             "instead of EG3D's --mirror=1, which does not flip the cameras")
    parser.add_argument("--no-replicas", action="store_true",
                        help="one copy per image even where the manifest has rebalancing replica counts")
    parser.add_argument("--merge-with", type=Path, default=None, metavar="EG3D_FOLDER_OR_ZIP",
                        help="an EG3D training folder or zip (e.g. FFHQ's): its images and labels first, ours appended "
                             "with its numbering continued, as LPFF appends LPFF to FFHQ (it is only read)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    out = export_eg3d(args.dataset, args.out, mirror=args.mirror, replicas=not args.no_replicas,
                      merge_with=args.merge_with, progress=not args.no_progress)
    count = len(json.loads((zipfile.Path(out) / DATASET_JSON).read_text() if out.suffix.lower() == ".zip"
                           else (out / DATASET_JSON).read_text())["labels"])
    print(f"{out}: {count} images with their cameras in {DATASET_JSON} — train EG3D with: "
          f"python train.py --data {out} --cond True ...")
    return 0
