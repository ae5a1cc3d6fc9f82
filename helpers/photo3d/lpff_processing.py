"""Your own photos through LPFF's processing: ``python -m helpers process-lpff PHOTOS --out OUT``.

:func:`process_lpff` runs LPFF's steps (landmarks, low-resolution rule, camera, filter of poses common in FFHQ, a
debug image per face for review, EG3D and StyleGAN crops) with the alignment and landmark camera fit of ``invert``,
writes LPFF's **published layout** under ``OUT/lpff/`` (read by :class:`helpers.datasets.lpff.LpffFolder`), then a
dataset folder ``OUT/dataset/`` with mirrors, LPFF's rebalancing and ``dataset.json``
(:func:`helpers.datasets.lpff.convert_lpff`), and ``OUT/report.md``.

- Faces are named ``<photo id>_<NN>``, NN = 01, 02, … largest face first. Every face is rejected or accepted with
  its reason in ``OUT/lpff/faces.jsonl`` (one line per photo), ``info.json`` and the report.
- Review as in LPFF: delete ``OUT/lpff/debug/<name>.png`` of a bad face and run again; the dataset is rebuilt
  without it. A rerun resumes (finished photos are not redone); other settings are refused.
- Cameras are EG3D 25-vectors (radius 2.7, looking at the pivot); crops are 512² (EG3D) and 1024² (FFHQ).

Design notes: docs/design/photo3d.md (lpff_processing): the layout, each step beside LPFF's script, the thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.base.atomic import remove_temporary_files, write_text_atomic
from helpers.base.errors import UserError
from helpers.base.folder_lock import folder_lock
from helpers.dataset_folder.manifest import ManifestWriter, read_manifest
from helpers.dataset_folder.meta import read_meta, settings_differences
from helpers.datasets.lpff.lpff_convert import convert_lpff
from helpers.datasets.lpff.lpff_folder import CAMERA_PARAMETERS, INFO
from helpers.datasets.lpff.pose_rebalance import FFHQ_DENSITY_THRESHOLD
from helpers.download.http_download import sha256_file
from helpers.invert.align import AlignConfig
from helpers.invert.folder_inversion import list_photos, photo_id
from helpers.invert.quality import DEFAULT_MAX_FIT_PX
from helpers.photo3d.lpff_faces import (
    DEBUG,
    DEBUG_REJECTED,
    EG3D_CROPS,
    LPFF_MIN_REGION_PX,
    REALIGNED,
    STYLEGAN_CROPS,
    FaceProcessor,
    ProcessConfig,
    photo_entry,
)

__all__ = ["ProcessReport", "process_lpff"]

LPFF_DIR = "lpff"
DATASET_DIR = "dataset"
FACES = "faces.jsonl"
SETTINGS = "process.json"
REPORT = "report.md"
RAW_LANDMARKS = "raw_lm.json"


@dataclass(frozen=True)
class ProcessReport:
    """Outcome of :func:`process_lpff`: the faces accepted (names), rejected (name → reason), dropped in review, the
    dataset folder (None when no face was accepted), and the seconds this run took."""

    out: Path
    accepted: tuple[str, ...]
    rejected: dict[str, str]
    reviewed_out: tuple[str, ...]
    dataset: Path | None
    seconds: float


# ----------------------------------------------------------------------------------------------- the job



def _check_settings(lpff: Path, settings: dict[str, Any]) -> None:
    path = lpff / SETTINGS
    if path.is_file():
        diffs = settings_differences(json.loads(path.read_text(encoding="utf-8")), settings)
        if diffs:
            raise UserError(f"{lpff.parent} was processed with other settings ({'; '.join(diffs[:4])})",
                            "run with the same options to resume, or give another --out")
    else:
        write_text_atomic(path, json.dumps(settings, indent=2) + "\n")


def _published_layout(lpff: Path, faces: list[dict[str, Any]], photos: dict[str, str]) -> None:
    """camera_parameters.json, info.json and raw_lm.json of the accepted faces, in LPFF's forms (sorted by name)."""
    faces = sorted(faces, key=lambda f: f["name"])
    cameras = {f["name"]: f["camera"] for f in faces}
    info = {f["name"]: {"raw_image_name": photos[f["name"]], **{k: v for k, v in f.items()
                                                                   if k not in ("name", "camera", "landmarks")}}
            for f in faces}
    write_text_atomic(lpff / CAMERA_PARAMETERS, json.dumps(cameras, indent=1) + "\n")
    write_text_atomic(lpff / INFO, json.dumps(info, indent=1) + "\n")
    write_text_atomic(lpff / RAW_LANDMARKS, json.dumps({f["name"]: f["landmarks"] for f in faces}) + "\n")


def _build_dataset(out: Path, lpff: Path, config: ProcessConfig, count: int) -> tuple[Path | None, str]:
    """Convert ``lpff`` into ``OUT/dataset`` (rebuilt when the accepted faces changed); returns it and a note."""
    dataset = out / DATASET_DIR
    if count == 0:
        if dataset.exists():
            shutil.rmtree(dataset)
        return None, "no face accepted: no dataset written"
    poses = count * (2 if config.mirror else 1)
    rebalance = config.rebalance and (poses >= 3 or config.ffhq_labels is not None)
    note = "" if rebalance or not config.rebalance else \
        f"not rebalanced: LPFF's pose density needs at least 3 poses ({poses} here) or FFHQ's labels"
    meta = read_meta(dataset) if dataset.is_dir() else None
    current = sha256_file(lpff / CAMERA_PARAMETERS)
    if meta is not None and (meta.get("generator", {}).get("camera_parameters_sha256") != current
                             or meta.get("settings", {}).get("rebalance") != rebalance
                             or meta.get("settings", {}).get("mirror") != config.mirror):
        shutil.rmtree(dataset)  # derived from OUT/lpff alone: rebuilt from it
    try:
        convert_lpff(lpff, dataset, mirror=config.mirror, rebalance=rebalance, progress=config.progress,
                     reference=config.ffhq_labels if rebalance else None)
    except ValueError as error:  # a KDE on poses all on one line (e.g. one face and its mirror)
        if not rebalance or "pose KDE" not in str(error):
            raise
        shutil.rmtree(dataset, ignore_errors=True)
        convert_lpff(lpff, dataset, mirror=config.mirror, rebalance=False, progress=config.progress)
        note = f"not rebalanced: {error}"
    return dataset, note


def process_lpff(photos: str | os.PathLike[str], out: str | os.PathLike[str],
                 config: ProcessConfig = ProcessConfig()) -> ProcessReport:
    """Run LPFF's processing on a photo or a folder of photos into ``out`` (layout in the module doc).

    Resumable: photos already in ``OUT/lpff/faces.jsonl`` are not processed again, and a rerun with other settings is
    refused. Holds ``out``'s lock meanwhile. Raises FileNotFoundError for a missing photo folder and
    :class:`~helpers.base.errors.UserError` for a folder without photos; a photo that cannot be read, or has no
    face, is recorded as rejected with the reason, not raised.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    out = Path(out)
    listed = list_photos(photos)
    if not listed:
        raise UserError(f"no photos in {photos}", "give a folder of .jpg/.png/.webp photos, or one photo")
    if config.limit is not None:
        listed = listed[: config.limit]
    stems: dict[str, list[str]] = {}
    for photo in listed:
        stems.setdefault(photo_id(photo), []).append(photo.name)
    clashes = [names for names in stems.values() if len(names) > 1]
    if clashes:
        raise UserError(f"photos whose names differ only in the extension would share their faces' names: {clashes[0]}",
                        "rename them")
    lpff = out / LPFF_DIR
    processor = FaceProcessor(config, lpff)  # reads the labels and landmarks first: a bad file leaves nothing behind
    with folder_lock(out, "process-lpff"):
        lpff.mkdir(parents=True, exist_ok=True)
        _check_settings(lpff, config.settings())
        remove_temporary_files([lpff / d for d in (EG3D_CROPS, STYLEGAN_CROPS, REALIGNED, DEBUG, DEBUG_REJECTED)])
        done = {entry["photo"] for entry in read_manifest(lpff / FACES)} if (lpff / FACES).is_file() else set()
        todo = [p for p in listed if p.name not in done]
        with ManifestWriter(lpff / FACES) as writer:
            for photo in tqdm(todo, desc="process-lpff", unit="photo", disable=not config.progress):
                writer.append(photo_entry(processor, photo))
        entries = read_manifest(lpff / FACES)
        photos_of = {f["name"]: e["photo"] for e in entries for f in e["faces"]}
        accepted = [f for e in entries for f in e["faces"] if f["status"] == "accepted"]
        kept = [f for f in accepted if (lpff / DEBUG / f"{f['name']}.png").is_file()]
        reviewed_out = tuple(sorted(f["name"] for f in accepted if f not in kept))
        rejected = {f["name"]: f["reason"] for e in entries for f in e["faces"] if f["status"] == "rejected"}
        rejected.update({e["id"]: e["reason"] for e in entries if "reason" in e})
        _published_layout(lpff, kept, photos_of)
        dataset, note = _build_dataset(out, lpff, config, len(kept))
        report = ProcessReport(out=out, accepted=tuple(sorted(f["name"] for f in kept)), rejected=rejected,
                               reviewed_out=reviewed_out, dataset=dataset, seconds=time.perf_counter() - start)
        write_text_atomic(out / REPORT, _report_markdown(report, entries, config, note))
    return report


def _report_markdown(report: ProcessReport, entries: list[dict[str, Any]], config: ProcessConfig, note: str) -> str:
    faces = {f["name"]: f for e in entries for f in e["faces"]}
    pose_filter = (f"on, density < {config.max_ffhq_density:g}" if config.ffhq_labels
                   else "off (no FFHQ labels given: --ffhq-labels)")
    lines = [
        "# LPFF processing report", "",
        f"{len(entries)} photos, {len(faces)} faces: **{len(report.accepted)} accepted**, {len(report.rejected)} "
        f"rejected, {len(report.reviewed_out)} dropped in review (debug image deleted).", "",
        f"- FFHQ pose filter: {pose_filter}",
        f"- camera fit limit: {config.max_fit_px:g} px RMS; low-resolution limit: {config.min_region_px} px",
        f"- dataset: {report.dataset if report.dataset is not None else 'none'}"
        + (f" ({note})" if note else ""), "",
        "Review: open `lpff/debug/`, delete the image of every face whose fit (red) misses its landmarks (green) or "
        "whose crop is blurry, then run the same command again: the dataset is rebuilt without them. Rejected faces "
        "are in `lpff/debug/rejected/`, their reasons below.", "",
    ]
    if report.rejected:
        lines += ["## Rejected", "", "| face or photo | reason |", "|---|---|"]
        lines += [f"| {name} | {reason} |" for name, reason in sorted(report.rejected.items())] + [""]
    if report.reviewed_out:
        lines += ["## Dropped in review", "", ", ".join(report.reviewed_out), ""]
    if report.accepted:
        lines += ["## Accepted", "", "| face | photo | yaw ° | elevation ° | fit px | FFHQ density |",
                  "|---|---|---|---|---|---|"]
        photo = {f["name"]: e["photo"] for e in entries for f in e["faces"]}
        for name in report.accepted:
            f = faces[name]
            density = f.get("ffhq_density")
            lines.append(f"| {name} | {photo[name]} | {f['yaw_deg']:.1f} | {f['elevation_deg']:.1f} | "
                         f"{f['fit_px']:.1f} | {'-' if density is None else format(density, '.3f')} |")
        lines.append("")
    if report.dataset is not None:
        lines += ["## Next", "", f"EG3D training folder: `python -m helpers export-eg3d {report.dataset} OUT_EG3D` "
                  "(its replicas are LPFF's rebalancing); add `--merge-with FFHQ_FOLDER_OR_ZIP` to append these faces "
                  "to FFHQ's EG3D set, as LPFF did.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photos", type=Path, help="a photo, or a folder of photos (jpg, png, webp, …)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (an existing one is resumed)")
    parser.add_argument("--ffhq-labels", default=None, metavar="DATASET_JSON",
                        help="EG3D's FFHQ dataset.json (`python -m helpers datasets download ffhq-eg3d-labels`): "
                             "LPFF's filter of poses common in FFHQ, and FFHQ's poses in the rebalancing")
    parser.add_argument("--max-ffhq-density", type=float, default=FFHQ_DENSITY_THRESHOLD,
                        help="keep faces whose pose density under FFHQ is below this (LPFF: %(default)s)")
    parser.add_argument("--max-fit-px", type=float, default=DEFAULT_MAX_FIT_PX,
                        help="reject faces whose landmark camera fit leaves more RMS pixels (default: %(default)s)")
    parser.add_argument("--min-region-px", type=int, default=LPFF_MIN_REGION_PX,
                        help="LPFF's low-resolution rule, 0 for none (default: %(default)s)")
    parser.add_argument("--landmarks", default=None, metavar="RAW_LM_JSON",
                        help="68 landmarks per face in LPFF's raw_lm.json form, instead of dlib's detection")
    parser.add_argument("--no-stylegan-crop", dest="stylegan_crop", action="store_false",
                        help="do not write the 1024² StyleGAN crops")
    parser.add_argument("--realign", action="store_true", help="also write the 2400² realigned images")
    parser.add_argument("--no-mirror", dest="mirror", action="store_false", help="no mirrored faces in the dataset")
    parser.add_argument("--no-rebalance", dest="rebalance", action="store_false", help="no LPFF rebalancing")
    parser.add_argument("--upsample", type=int, default=AlignConfig.upsample,
                        help="face detector upsampling: 2 finds faces down to ~20 px, 4× slower (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="process at most this many photos")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--ffhq-labels", args.ffhq_labels), ("--landmarks", args.landmarks)):
        if value is not None and not Path(value).is_file():
            raise UserError(f"no such file: {value} ({flag})", "see `python -m helpers process-lpff --help`")
    try:
        config = ProcessConfig(align=AlignConfig(upsample=args.upsample), max_fit_px=args.max_fit_px,
                               ffhq_labels=args.ffhq_labels, max_ffhq_density=args.max_ffhq_density,
                               min_region_px=args.min_region_px, stylegan_crop=args.stylegan_crop,
                               realign=args.realign, mirror=args.mirror, rebalance=args.rebalance,
                               landmarks=args.landmarks, limit=args.limit, progress=args.progress)
    except ValueError as error:
        raise UserError(str(error), "see `python -m helpers process-lpff --help`") from None
    report = process_lpff(args.photos, args.out, config)
    print(f"{len(report.accepted)} faces accepted, {len(report.rejected)} rejected, {len(report.reviewed_out)} "
          f"dropped in review in {report.seconds:.1f} s → {report.out / REPORT}")
    return 0
