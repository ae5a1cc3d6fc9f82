"""``python -m helpers video``: EG3D's interpolation videos (``gen_videos.py``) and turntables of meshes.

Examples::
    python -m helpers video --checkpoint ffhq512-128 --seeds 0-31 --grid 4x2 --out videos/
    python -m helpers video --checkpoint ffhq512-128 --seeds 0-3 --kind depth --no-interpolate --out videos/
    python -m helpers video --mesh outputs/demo/mesh.ply --out videos/

Writes ``OUT/interpolation.mp4`` (or ``OUT/<seed>.mp4`` per seed with ``--no-interpolate``, as the script), and
``OUT/<mesh stem>_turntable.mp4`` for ``--mesh``; GIF when ``imageio-ffmpeg`` is not installed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.base.errors import UserError
from helpers.base.runtime import resolve_device
from helpers.base.video_file import write_video
from helpers.eg3d.loading import load
from helpers.generation.generate_dataset import parse_seeds
from helpers.generation.videos import VideoConfig, frame_count, interpolation_frames
from helpers.mesh import load_mesh
from helpers.viewer.turntable import turntable_frames

_HELP = "see `python -m helpers video --help`"


def _grid(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    try:
        grid = (int(width), int(height)) if sep else (int(width), 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a grid is WxH, e.g. 4x2; got {text!r}") from None
    if min(grid) < 1:
        raise argparse.ArgumentTypeError(f"a grid needs at least one cell each way, got {text!r}")
    return grid


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seeds", help="seeds to interpolate through: 0-31, 1,5,9 … (with --checkpoint)")
    source.add_argument("--mesh", type=Path, help="a mesh file (.ply, .obj): a turntable video of it")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--checkpoint", default="ffhq512-128",
                        help="EG3D checkpoint name (downloaded once), file, or tiny-random (default: %(default)s)")
    parser.add_argument("--grid", type=_grid, default=(1, 1), help="cells WxH (default: 1x1)")
    parser.add_argument("--num-keyframes", type=int, default=None,
                        help="seeds each cell walks through (default: seeds / cells)")
    parser.add_argument("--w-frames", type=int, default=120, help="frames between keyframes (default: %(default)s)")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation ψ (default: %(default)s)")
    parser.add_argument("--trunc-cutoff", type=int, default=14, help="truncation cutoff (default: %(default)s)")
    parser.add_argument("--kind", choices=("image", "image_raw", "depth"), default="image",
                        help="what each frame shows (default: %(default)s)")
    parser.add_argument("--path", choices=("orbit", "yaw"), default="orbit",
                        help="camera path: EG3D's orbit, or a yaw sweep (default: %(default)s)")
    parser.add_argument("--no-interpolate", action="store_true", help="one video per seed, as the script's "
                        "--interpolate=False")
    parser.add_argument("--shuffle-seed", type=int, default=None, help="shuffle the seeds' order")
    parser.add_argument("--sample-mult", type=float, default=2.0,
                        help="depth samples per ray × this (default: %(default)s, as the script)")
    parser.add_argument("--fps", type=float, default=None, help="frames per second (default: 60; turntables 30)")
    parser.add_argument("--frames", type=int, default=72, help="turntable frames (default: %(default)s)")
    parser.add_argument("--size", type=int, default=512, help="turntable frame side (default: %(default)s)")
    parser.add_argument("--format", choices=("mp4", "gif"), default="mp4", help="(default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1… (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _progress(frames, total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(frames, total=total, desc=label, unit="frame", disable=not enabled)


def run(args: argparse.Namespace) -> int:
    suffix = f".{args.format}"
    if args.mesh is not None:
        if not args.mesh.is_file():
            raise UserError(f"no such mesh file: {args.mesh}", "give a .ply or .obj file")
        if args.frames < 1 or args.size < 16:
            raise UserError(f"--frames must be >= 1 and --size >= 16, got {args.frames}, {args.size}", _HELP)
        frames = turntable_frames(load_mesh(args.mesh), args.frames, size=args.size)
        path = write_video(args.out / f"{args.mesh.stem}_turntable{suffix}",
                           _progress(frames, args.frames, "turntable", not args.no_progress), args.fps or 30)
        print(f"{path}: {args.frames} frames")
        return 0
    try:
        seeds = parse_seeds(args.seeds)
        base = dict(grid=args.grid, num_keyframes=args.num_keyframes, w_frames=args.w_frames, psi=args.trunc,
                    truncation_cutoff=args.trunc_cutoff, kind=args.kind, path=args.path,
                    shuffle_seed=args.shuffle_seed, sample_mult=args.sample_mult)
        configs = ([(f"{seed}{suffix}", VideoConfig(seeds=(seed,), **base)) for seed in seeds] if args.no_interpolate
                   else [(f"interpolation{suffix}", VideoConfig(seeds=seeds, **base))])
    except ValueError as error:
        raise UserError(str(error), _HELP) from None
    generator = load(args.checkpoint, device=resolve_device(args.device), progress=not args.no_progress)
    for name, config in configs:
        total = frame_count(config)
        frames = _progress(interpolation_frames(generator, config), total, name, not args.no_progress)
        path = write_video(args.out / name, frames, args.fps or 60)
        print(f"{path}: {total} frames of {config.grid[0]}x{config.grid[1]} cells")
    return 0
