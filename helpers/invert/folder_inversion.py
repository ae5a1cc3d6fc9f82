"""A Prosopo-style evaluation set from a folder of photos: ``python -m helpers invert PHOTOS --out DATASET``.

Each photo is aligned, given a camera, inverted with PTI, and written as one sample of the project's
dataset folder format (docs/data-formats.md), like Prosopo: ``images/<id>.png`` is the aligned *photo*;
``depth/``, ``mask/``, ``latents/`` (the pivot w), ``cameras/`` and ``meshes/`` come from the
inversion (the tuned generator's render of the pivot, its density field). The sample id is the
photo's file stem. ``inversions/<id>/`` keeps the rest (reconstruction, novel views, the tuned
generator as a weight delta, loss curve, metrics; see :meth:`helpers.invert.inversion.Inversion.save`).

Resumable and fault-tolerant: a photo whose sample is in the manifest is skipped; a photo that fails
(no face, several faces with ``--face only``, an unreadable file, …) is logged to ``failures.jsonl``
with the reason and the batch goes on; failed photos are retried only with ``--retry-failed``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from helpers import eg3d
from helpers.base import cameras
from helpers.base.atomic import remove_temporary_files, write_text_atomic
from helpers.base.errors import UserError, is_disk_error
from helpers.base.folder_lock import folder_lock
from helpers.base.runtime import resolve_device
from helpers.dataset_folder.layout import MANIFEST
from helpers.dataset_folder.manifest import ManifestWriter, read_samples, write_dataset_json
from helpers.dataset_folder.meta import prepare_folder
from helpers.depth.metrics.metrics_table import MetricsTable
from helpers.generation.generate_dataset import dataset_meta, settings_json
from helpers.generation.sample_renderer import RenderedSample, SampleRenderer
from helpers.generation.sample_settings import MeshSettings, SampleSettings, default_depth_range
from helpers.generation.sample_writer import SampleWriter
from helpers.generation.viewpoints import Viewpoint
from helpers.invert.align import AlignConfig, AlignmentError
from helpers.invert.camera_fit import camera_from_dataset_json
from helpers.invert.inversion import InversionConfig, invert_photo
from helpers.invert.lpips_weights import load_lpips_nets
from helpers.invert.pti import PRECISION_CHOICES, PRESETS, PTIConfig
from helpers.invert.quality import flagged_first, photo_quality
from helpers.invert.same_person import invert_same_person
from helpers.mesh.cleanup import CleanConfig

__all__ = [
    "FAILURES",
    "REPORT",
    "BatchConfig",
    "BatchReport",
    "add_arguments",
    "invert_folder",
    "list_photos",
    "log_failure",
    "read_failures",
    "run",
    "write_report",
]

FAILURES = "failures.jsonl"
#: The fit of the inversions, overall and per head-yaw bin (:func:`write_report`).
REPORT = "report.md"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class BatchConfig:
    """Settings of :func:`invert_folder`.

    Attributes:
        checkpoint: EG3D checkpoint name / file (``tiny-random`` for tests and smoke mode).
        inversion: alignment, camera and PTI settings.
        lpips: LPIPS weights of the networks the PTI stages use: ``"pretrained"`` (downloaded once) or
            ``"random"`` (tests only).
        camera_labels: EG3D's FFHQ ``dataset.json``; photos listed in it (by name or stem) use its camera
            instead of the landmark fit; the manifest records ``camera_source`` ("labels" or "landmarks").
        mesh: per-sample mesh settings, or None for no meshes.
        details: also keep ``inversions/<id>/`` (reconstruction, novel views, weight delta, losses).
        frames: renders in each ``inversions/<id>/orbit.gif`` turntable (0: none).
        retry_failed: retry photos listed in ``failures.jsonl``.
        device: ``auto``, ``cpu``, ``cuda``…
        progress: show progress bars.
    """

    checkpoint: str = "ffhq512-128"
    inversion: InversionConfig = field(default_factory=InversionConfig)
    lpips: str = "pretrained"
    camera_labels: str | None = None
    mesh: MeshSettings | None = field(default_factory=MeshSettings)
    details: bool = True
    frames: int = 24
    retry_failed: bool = False
    device: str = "auto"
    progress: bool = True


@dataclass(frozen=True)
class BatchReport:
    """Outcome of :func:`invert_folder`: ids written, skipped (already done or failed before), failed now."""

    out: Path
    written: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[str, ...]
    seconds: float


def list_photos(source: str | Path) -> list[Path]:
    """Image files of a folder (sorted, not recursive), or the single file given."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"no such photo or folder: {source}")
    return sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def photo_id(path: Path) -> str:
    """Sample id of a photo: its file stem with characters other than letters, digits, ``-_.`` replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", path.stem) or "photo"


def log_failure(root: str | Path, sample_id: str, photo: Path, error: BaseException) -> None:
    """Append one line to ``root/failures.jsonl``: the photo, the error's kind and message, the time, and the
    traceback for errors that are not the user's (anything but an alignment or value error).

    A full disk or a read-only folder is no failure of the photo: it is raised again (the run stops, with one line on
    the command line) instead of logging every remaining photo as failed."""
    if is_disk_error(error):
        raise error
    entry = {"id": sample_id, "source": Path(photo).name, "error": type(error).__name__, "message": str(error),
             "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if not isinstance(error, (AlignmentError, ValueError)):
        entry["traceback"] = "".join(traceback.format_exception(error, limit=5))
    Path(root).mkdir(parents=True, exist_ok=True)
    with open(Path(root) / FAILURES, "a") as handle:
        handle.write(json.dumps(entry) + "\n")


def read_failures(root: str | Path) -> dict[str, dict[str, Any]]:
    """id → latest failure record of ``failures.jsonl`` (empty if none)."""
    path = Path(root) / FAILURES
    records: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a crash
                records[record["id"]] = record
    return records


def _meta(config: BatchConfig, identity: dict[str, Any], G: Any, settings: SampleSettings,
          depth_range: tuple[float, float]) -> dict[str, Any]:
    recorded = {**settings_json(settings, depth_range), "inversion": config.inversion.as_dict(), "lpips": config.lpips}
    return dataset_meta(identity, G.config, recorded, depth_range,
                        kind="inverted photos (PTI), Prosopo-style: images are the aligned photos",
                        latents="pivot w (w_dim,) of the projection, or ws (num_ws, w_dim) for W+")


def _labelled_camera(labels: str | None, photo: Path) -> np.ndarray | None:
    """The photo's camera from an EG3D ``dataset.json`` (matched by name or stem), or None if it is not listed."""
    if not labels:
        return None

    try:
        return camera_from_dataset_json(labels, photo.name)
    except KeyError:
        return None


def _sample(inversion: Any, sample_id: str, renderer: Any) -> Any:
    """The dataset sample of an inversion; ``renderer`` (a SampleRenderer of the tuned generator) gives its
    density on the mesh lattice."""

    cam2world = inversion.camera[:16].reshape(4, 4)
    yaw, pitch, radius = cameras.orbit_angles(cam2world.astype(np.float64))
    view = Viewpoint(category="photo", yaw=float(yaw), pitch=float(pitch), radius=float(radius),
                             focal=float(inversion.camera[16]), lookat=tuple(float(v) for v in cameras.PIVOT))
    # The reconstruction's own render (no second render): depth, ray depth and opacity from the photo's camera.
    sample = RenderedSample(seed=-1, view=view, camera=inversion.camera, image=inversion.target,
                            depth_z=inversion.depth, depth_ray=inversion.depth_ray, opacity=inversion.opacity,
                            ws=inversion.ws[0].float().cpu().numpy(), name=sample_id)
    if renderer.settings.mesh is not None:
        planes = inversion.subject().planes  # computed once per inversion, also for inversions/<id>/
        sample.density = renderer.density(planes)
        sample.planes = planes if renderer.settings.mesh.colors else None
    return sample


def invert_folder(photos: str | Path, out: str | Path, config: BatchConfig = BatchConfig(), *,
                  generator: Any = None, lpips: Any = None, log: Any = print) -> BatchReport:
    """Invert every photo of ``photos`` (a folder or one file) into the dataset folder ``out``
    (:func:`_invert_into`), holding ``out``'s lock (:func:`helpers.base.folder_lock.folder_lock`) meanwhile: a
    second writer into ``out`` gets :class:`helpers.base.folder_lock.FolderBusyError`. A missing photo or folder is
    refused before ``out`` is created."""
    list_photos(photos)
    with folder_lock(out, "invert"):
        return _invert_into(photos, out, config, generator=generator, lpips=lpips, log=log)


def _invert_into(photos: str | Path, out: str | Path, config: BatchConfig = BatchConfig(), *,
                 generator: Any = None, lpips: Any = None, log: Any = print) -> BatchReport:
    """Invert every photo of ``photos`` (a folder or one file) into the dataset folder ``out``.

    ``generator`` / ``lpips`` may pass loaded models (the dataset still records ``config.checkpoint``).
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    root = Path(out)
    paths = list_photos(photos)
    if not paths:
        raise FileNotFoundError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in {photos}")
    ids = [photo_id(p) for p in paths]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"photos with the same file stem would overwrite each other: {duplicates}; rename them")
    device = resolve_device(config.device)
    G = generator if generator is not None else eg3d.load(config.checkpoint, device=device)
    identity = eg3d.checkpoint_identity(config.checkpoint, progress=config.progress)
    inversion_config = config.inversion
    settings = SampleSettings(mesh=config.mesh, conditioning="frontal"
                              if inversion_config.pti.conditioning == "frontal" else "render")
    depth_range = default_depth_range(G.config, settings.viewpoints)
    done = prepare_folder(root, _meta(config, identity, G, settings, depth_range))
    remove_temporary_files(p for p in (root / "inversions").glob("*") if p.is_dir())  # a killed run's partial files
    failures = read_failures(root)
    todo = [(i, p) for i, p in zip(ids, paths) if i not in done and (config.retry_failed or i not in failures)]
    skipped = tuple(i for i in ids if i in done or (not config.retry_failed and i in failures))
    if skipped:
        log(f"{len(skipped)} of {len(paths)} photos already done or failed before (see {FAILURES}); "
            f"{len(todo)} to invert")
    lp = lpips if lpips is not None else load_lpips_nets(config.lpips, inversion_config.pti.lpips_nets,
                                                         device=G.device, progress=config.progress)
    written, failed = [], []
    with ManifestWriter(root / MANIFEST) as lines, \
            tqdm(todo, unit="photo", desc="invert", disable=not config.progress) as bar:
        for sample_id, path in bar:
            bar.set_postfix_str(sample_id)
            try:
                labelled = _labelled_camera(config.camera_labels, path)
                result = invert_photo(path, G, lp, inversion_config, camera=labelled)
                renderer = SampleRenderer(result.generator, settings)  # density and colours of the tuned field
                writer = SampleWriter(root, settings, depth_range, renderer)
                record = writer.write(_sample(result, sample_id, renderer))
                record.update(source=path.name, camera_source="labels" if labelled is not None else "landmarks",
                              metrics=result.metrics,
                              quality=photo_quality(result.aligned, result.camera_estimate, result.metrics),
                              seconds={k: round(v, 3) for k, v in result.seconds.items()})
                if config.details:
                    # The delta records the identity of the generator it was tuned from (none for a generator
                    # that was passed in without one: such a delta is then applied only with allow_other_base).
                    result.save(root / "inversions" / sample_id, mesh=False, frames=config.frames)
                    record["details"] = f"inversions/{sample_id}"  # a folder: not in "files"
                lines.append(record)  # last: the sample becomes visible only now
                written.append(sample_id)
            except (AlignmentError, ValueError, OSError, RuntimeError) as error:
                log_failure(root, sample_id, path, error)
                failed.append(sample_id)
                log(f"{path.name}: {type(error).__name__}: {error}")
    write_dataset_json(root, read_samples(root).values())
    write_report(root)
    return BatchReport(out=root, written=tuple(written), skipped=skipped, failed=tuple(failed),
                       seconds=time.perf_counter() - started)


def write_report(root: str | Path) -> Path:
    """``root/report.md``: first the photos whose quality record is flagged (:mod:`helpers.invert.quality`: camera
    fit, pose, face size, with the reasons), then how well the inversions fit their photos (PSNR, SSIM and LPIPS of
    the render after projection and after tuning, means over every photo of the folder), also per head-yaw bin of the
    fitted camera (:data:`helpers.base.cameras.YAW_BINS`): large poses are where inversions go wrong."""
    table = MetricsTable()
    records = read_samples(root)
    for sample_id, record in records.items():
        metrics = record.get("metrics") or {}
        table.add_row(sample_id, {f"{stage}_{key}": float(value) for stage in ("projection", "tuned")
                                  for key, value in (metrics.get(stage) or {}).items()})
    table.group_by_head_yaw({sample_id: r["camera"] for sample_id, r in records.items() if "camera" in r})
    review = f"## Review first\n\n{flagged_first(records)}\n"
    return write_text_atomic(Path(root) / REPORT, review + table.to_markdown(title=f"Inversions in {root}"))


# ----------------------------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photos", type=Path, help="a photo, or a folder of photos (jpg, png, webp, …)")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder (an existing one is resumed)")
    parser.add_argument("--checkpoint", default=BatchConfig.checkpoint,
                        help="EG3D checkpoint name (downloaded once), file, or tiny-random (default: %(default)s)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="PTI recipe: default (500 + 350 steps, the published one), fast, smoke (default: %(default)s)")
    parser.add_argument("--projection-steps", type=int, default=None, help="override the preset's projection steps")
    parser.add_argument("--tuning-steps", type=int, default=None, help="override the preset's tuning steps")
    parser.add_argument("--w-plus", action="store_true", help="project into W+ (one w per layer)")
    parser.add_argument("--refine-camera", action="store_true",
                        help="refine the landmark camera's angles during projection")
    parser.add_argument("--face", default="largest",
                        help="which face when a photo has several: largest, only (error if several) or an index")
    parser.add_argument("--camera-labels", default=None,
                        help="EG3D FFHQ dataset.json: use its cameras for the photos it lists")
    parser.add_argument("--lpips", default="pretrained", choices=("pretrained", "random"),
                        help="LPIPS weights (random: tests only) (default: %(default)s)")
    parser.add_argument("--no-meshes", action="store_true", help="do not extract a mesh per photo")
    parser.add_argument("--mesh-resolution", type=int, default=MeshSettings.resolution, help="density lattice size")
    parser.add_argument("--clean-meshes", action="store_true",
                        help="drop the box's walls and floaters from each mesh, smooth lightly (helpers.mesh.cleanup)")
    parser.add_argument("--no-details", dest="details", action="store_false",
                        help="do not keep inversions/<id>/ (weight delta, novel views, losses)")
    parser.add_argument("--frames", type=int, default=BatchConfig.frames,
                        help="renders in each inversions/<id>/orbit.gif turntable, 0 for none (default: %(default)s)")
    parser.add_argument("--retry-failed", action="store_true", help=f"retry photos listed in {FAILURES}")
    parser.add_argument("--same-person", action="store_true",
                        help="the photos show one person: one shared pivot with a camera per photo, tuned on all "
                             "photos together; writes one face into OUT (not a dataset folder)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inversion's random numbers")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="fp32",
                        help="fp32 (the recipe) or bf16 autocast of renders and LPIPS; auto: bf16 on GPUs that "
                             "support it (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1… (default: %(default)s)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def _check_arguments(args: argparse.Namespace) -> None:
    for flag, value, minimum in (("--projection-steps", args.projection_steps, 0),
                                 ("--tuning-steps", args.tuning_steps, 0), ("--frames", args.frames, 0),
                                 ("--mesh-resolution", args.mesh_resolution, 8)):
        if value is not None and value < minimum:
            raise UserError(f"{flag} must be at least {minimum}, got {value}", "see `python -m helpers invert --help`")
    if not (args.face in ("largest", "only") or args.face.isdigit()):
        raise UserError(f"--face takes largest, only or an index (0 = the largest face), got {args.face!r}",
                        "see `python -m helpers invert --help`")
    if args.camera_labels and not Path(args.camera_labels).is_file():
        raise UserError(f"no such file: {args.camera_labels} (--camera-labels)", "give EG3D's FFHQ dataset.json")


def config_from_args(args: argparse.Namespace) -> BatchConfig:
    _check_arguments(args)
    pti = PTIConfig.preset(args.preset, seed=args.seed, precision=args.precision)
    projection, tuning = pti.projection, pti.tuning
    if args.projection_steps is not None:
        projection = replace(projection, steps=args.projection_steps)
    if args.w_plus or args.refine_camera:
        projection = replace(projection, w_plus=args.w_plus, refine_camera=args.refine_camera)
    if args.tuning_steps is not None:
        tuning = replace(tuning, steps=args.tuning_steps)
    face: str | int = int(args.face) if args.face.isdigit() else args.face
    mesh = None if args.no_meshes else MeshSettings(resolution=args.mesh_resolution,
                                                    clean=CleanConfig() if args.clean_meshes else None)
    inversion = InversionConfig(pti=replace(pti, projection=projection, tuning=tuning), align=AlignConfig(face=face),
                                mesh_resolution=args.mesh_resolution)
    return BatchConfig(checkpoint=args.checkpoint, inversion=inversion, lpips=args.lpips,
                       camera_labels=args.camera_labels, mesh=mesh, details=args.details, frames=args.frames,
                       retry_failed=args.retry_failed, device=args.device, progress=args.progress)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.same_person:
        return _run_same_person(args, config)
    report = invert_folder(args.photos, args.out, config)
    print(f"inverted {len(report.written)} photos in {report.seconds:.1f} s; {len(report.skipped)} skipped, "
          f"{len(report.failed)} failed (see {report.out / FAILURES}) → {report.out}")
    return 0 if not report.failed else 1


def _run_same_person(args: argparse.Namespace, config: BatchConfig) -> int:
    """``--same-person``: one face from every photo given (:func:`helpers.invert.same_person.invert_same_person`)."""
    photos = list_photos(args.photos)
    if len(photos) < 2:
        raise UserError(f"--same-person needs at least two photos, found {len(photos)} in {args.photos}",
                        "give a folder with several photos of the person")
    device = resolve_device(config.device)
    G = eg3d.load(config.checkpoint, device=device, progress=config.progress)
    lpips = load_lpips_nets(config.lpips, config.inversion.pti.lpips_nets, device=G.device, progress=config.progress)
    from tqdm.auto import tqdm

    steps = config.inversion.pti.projection.steps + config.inversion.pti.tuning.steps
    with folder_lock(args.out, "invert --same-person"), \
            tqdm(total=steps, desc=f"PTI on {len(photos)} photos", unit="step", disable=not config.progress) as bar:
        result = invert_same_person(photos, G, lpips, config.inversion, on_step=lambda _: bar.update(1))
        result.save(args.out, mesh=config.mesh is not None)
        rows = ["| photo | yaw ° | fit px | tuned PSNR dB | tuned LPIPS | flags |", "|---|---|---|---|---|---|"]
        for photo, metrics, aligned, estimate in zip(photos, result.metrics, result.aligned, result.estimates,
                                                     strict=True):
            quality = photo_quality(aligned, estimate, metrics)
            rows.append(f"| {photo.name} | {quality.get('yaw_deg', float('nan')):+.1f} | "
                        f"{quality.get('fit_px', float('nan')):.1f} | {metrics['tuned']['psnr']:.2f} | "
                        f"{metrics['tuned']['lpips']:.4f} | {'; '.join(quality['flags']) or '-'} |")
        write_text_atomic(args.out / REPORT, f"# One face from {len(photos)} photos\n\n" + "\n".join(rows) + "\n")
    print(f"one face from {len(photos)} photos → {args.out} (mesh.ply: the shared shape; {REPORT}: each photo's fit)")
    return 0
