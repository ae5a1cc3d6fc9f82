"""``python -m helpers reconstruct PHOTO|FOLDER … --method depth|latent|pti``: face photos → 3D faces.

One folder per photo under ``--out`` (:mod:`helpers.photo3d.photo_files`); a photo that fails (no face, several
with ``--face only``, an unreadable file) is logged to ``failures.jsonl`` as ``invert`` does and the rest go on.
Models are loaded once, before the first photo, so a missing download stops the run at once with one line; so do bad
options, a missing path, no GPU for ``--device cuda`` and a full disk or read-only ``--out`` (``error: <what> — <what
to do>``, exit code 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.base.atomic import write_text_atomic
from helpers.base.errors import UserError
from helpers.depth.models import PUBLISHED_UNET
from helpers.invert.align import AlignmentError
from helpers.invert.folder_inversion import FAILURES, list_photos, log_failure, photo_id
from helpers.invert.pti import PRESETS, PTIConfig
from helpers.invert.quality import flagged_first
from helpers.photo3d.photo_files import save_photo_reconstruction
from helpers.photo3d.photo_to_3d import METHODS, PhotoConfig, PhotoReconstructor

#: The run's summary in the output folder: the flagged photos first (helpers.invert.quality).
SUMMARY = "summary.md"

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = PhotoConfig()
    parser.add_argument("photos", nargs="+", metavar="PHOTO", help="face photos, or folders of them")
    parser.add_argument("--method", choices=METHODS, default=d.method,
                        help="depth: a depth model; latent: an encoder + EG3D; pti: inversion into EG3D "
                        "(default: %(default)s)")
    parser.add_argument("--model", default=None,
                        help=f"depth: a train-depth checkpoint, {PUBLISHED_UNET} (default), an original .pt or a "
                        "Hub backbone name; latent: an encoder checkpoint or a published regressor name")
    parser.add_argument("--generator", default=d.generator,
                        help="latent and pti: the EG3D checkpoint (name, file or tiny-random; default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("outputs/reconstruct"), help="output folder (default: "
                        "%(default)s)")
    parser.add_argument("--aligned", action="store_true",
                        help="the photos already are FFHQ/EG3D crops: detect only their landmarks")
    parser.add_argument("--face", default="largest",
                        help="which face: largest (default), only (refuse several) or an index, 0 = largest")
    parser.add_argument("--resolution", type=int, default=d.resolution,
                        help="depth: depth map and mesh grid size in pixels (default: %(default)s)")
    parser.add_argument("--depth-range", nargs=2, type=float, metavar=("NEAR", "FAR"), default=d.depth_range,
                        help="depth: camera z range (world units) a normalised prediction is spread over "
                        "(default: %(default)s)")
    parser.add_argument("--mesh-resolution", type=int, default=d.mesh_resolution,
                        help="latent and pti: marching-cubes lattice size (default: %(default)s)")
    parser.add_argument("--pti-preset", choices=sorted(PRESETS), default="default",
                        help="pti: PTI settings (default: %(default)s, EG3D-projector's recipe)")
    parser.add_argument("--lpips", default=d.lpips, help="pti: LPIPS weights (pretrained, random or a file)")
    parser.add_argument("--frames", type=int, default=36, help="turntable.gif frames (0: none; default: %(default)s)")
    parser.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1… (default: %(default)s)")


def _refusal(what: str, todo: str) -> UserError:
    """The one-line error ``<what> — <what to do>`` (``what`` alone when it already says what to do)."""
    what = " ".join(line.strip() for line in what.splitlines() if line.strip())
    return UserError(what) if " — " in what else UserError(what, todo)


def run(args: argparse.Namespace) -> int:
    try:
        photos = [photo for source in args.photos for photo in list_photos(source)]
        face = int(args.face) if str(args.face).lstrip("-").isdigit() else args.face
        config = PhotoConfig(method=args.method, model=args.model, generator=args.generator, aligned=args.aligned,
                             face=face, resolution=args.resolution, depth_range=tuple(args.depth_range),
                             mesh_resolution=args.mesh_resolution, pti=PTIConfig.preset(args.pti_preset),
                             lpips=args.lpips, device=args.device)
        if args.frames < 0:
            raise ValueError(f"--frames must be at least 0, got {args.frames}")
    except (FileNotFoundError, ValueError) as error:
        raise _refusal(str(error), "check the paths and options (python -m helpers reconstruct --help)") from error
    if not photos:
        raise _refusal(f"no photos in {', '.join(args.photos)}", "give image files or folders of them")
    print(f"reconstruct: {len(photos)} photo(s), method {config.method} ({config.model_source}) → {args.out}")
    try:
        reconstructor = PhotoReconstructor(config).load()
    except (OSError, ValueError, RuntimeError, KeyError, ImportError) as error:
        raise _refusal(f"could not load {config.model_source!r} for the {config.method} method: {error}",
                       "check the name or file, or the network for a first download") from error
    failed = 0
    seen: set[str] = set()
    records: dict[str, dict] = {}
    for i, path in enumerate(photos, start=1):
        sample_id = photo_id(path)
        while sample_id in seen:  # a/face.png and b/face.png
            sample_id += "_"
        seen.add(sample_id)
        try:
            rec = reconstructor.reconstruct(path)
        except (AlignmentError, ValueError, OSError) as error:
            log_failure(args.out, sample_id, path, error)
            print(f"[{i}/{len(photos)}] {path}: {type(error).__name__}: {error}", file=sys.stderr)
            failed += 1
            continue
        files = save_photo_reconstruction(rec, args.out / sample_id, frames=args.frames)
        fit = rec.camera_estimate
        records[sample_id] = record = rec.record()
        print(f"[{i}/{len(photos)}] {path}: yaw {fit.yaw_deg:+.1f}°, elevation {fit.elevation_deg:+.1f}°; "
              f"{rec.mesh.num_faces:,} faces → {files['viewer']}")
        for reason in record["quality"]["flags"]:
            print(f"    flagged: {reason}")
    if records:
        write_text_atomic(args.out / SUMMARY, f"# Reconstructions in {args.out}\n\n{flagged_first(records)}")
    if failed:
        print(f"{failed} of {len(photos)} photos failed (see {args.out / FAILURES})", file=sys.stderr)
        return 1
    return 0
