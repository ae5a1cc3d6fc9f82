"""``python -m helpers generate``: the command line of :func:`helpers.generation.generate_dataset.generate`.

Every flag value is checked by the same code that checks the Python API's value (a bad one is a one-line
``error: argument --…``), and the settings become a :class:`~helpers.generation.generate_dataset.GenerateConfig`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.base.errors import UserError
from helpers.base.runtime import PRECISIONS
from helpers.generation.generate_dataset import GenerateConfig, generate, parse_seeds, parse_shard, plan
from helpers.generation.sample_settings import CONDITIONING, MESH_FORMATS, MeshSettings, SampleSettings
from helpers.generation.viewpoints import ViewpointMix
from helpers.mesh.cleanup import CleanConfig

__all__ = ["add_arguments", "config_from_args", "run"]


def _flag(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` that shows the message of ``parse``'s ValueError (argparse alone says "invalid value")."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _number(kind: type, text: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None


def _batch_size(text: str) -> int:
    value = _number(int, text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value} — seeds rendered together: 8 suits a GPU, 1 the CPU")
    return value


def _workers(text: str) -> int:
    value = _number(int, text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value} — the threads that write files (default: 2)")
    return value


# Each value is checked where the Python API checks it, so that the flag and the API refuse the same values.
_ARGUMENT_TYPES: dict[str, Callable[[str], Any]] = {
    "seeds": _flag(parse_seeds),
    "shard": _flag(parse_shard),
    "batch_size": _flag(_batch_size),
    "workers": _flag(_workers),
    "truncation_psi": _flag(lambda text: SampleSettings(truncation_psi=_number(float, text)).truncation_psi),
    "truncation_cutoff": _flag(lambda text: SampleSettings(truncation_cutoff=_number(int, text)).truncation_cutoff),
    "depth_min_opacity": _flag(lambda text: SampleSettings(depth_min_opacity=_number(float, text)).depth_min_opacity),
    "mesh_resolution": _flag(lambda text: MeshSettings(resolution=_number(int, text)).resolution),
    "viewpoints": _flag(ViewpointMix.parse),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, s, m = GenerateConfig(out=Path("."), seeds=(0,)), SampleSettings(), MeshSettings()
    types = _ARGUMENT_TYPES
    parser.add_argument("--checkpoint", default=d.checkpoint,
                        help="EG3D checkpoint name (downloaded once), file, or tiny-random (default: %(default)s)")
    parser.add_argument("--seeds", required=True, type=types["seeds"], help="latent seeds, e.g. 0-49999 or 0-9,20")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder (an existing one is resumed)")
    parser.add_argument("--batch-size", type=types["batch_size"], default=None,
                        help="seeds rendered together (default: 8 on a GPU, 1 on the CPU)")
    parser.add_argument("--trunc", dest="truncation_psi", type=types["truncation_psi"], default=s.truncation_psi,
                        help="truncation ψ in [0, 1] (default: %(default)s)")
    parser.add_argument("--trunc-cutoff", dest="truncation_cutoff", type=types["truncation_cutoff"], default=None,
                        help="truncate only the first N ws (default: all)")
    parser.add_argument("--viewpoints", type=types["viewpoints"], default=None,
                        help="the whole mix: shares in [0, 1] adding up to 1, categories not named get none, e.g. "
                        "frontal=0.7,side=0.12,side_extreme=0.06,frontal_neck=0.12 (default)")
    parser.add_argument("--conditioning", choices=CONDITIONING, default=s.conditioning,
                        help="camera the mapping network is conditioned on (default: %(default)s)")
    parser.add_argument("--depth-range", nargs=2, type=float, metavar=("NEAR", "FAR"), default=None,
                        help="z range of the 16-bit depth PNGs (default: from the generator's ray range)")
    parser.add_argument("--depth-min-opacity", type=types["depth_min_opacity"], default=s.depth_min_opacity,
                        help="write depth where the opacity reaches this (default: %(default)s)")
    parser.add_argument("--meshes", action="store_true", help="also extract a mesh per sample")
    parser.add_argument("--mesh-resolution", type=types["mesh_resolution"], default=m.resolution,
                        help="density lattice size (default: %(default)s)")
    parser.add_argument("--mesh-format", choices=MESH_FORMATS, default=m.format, help="mesh file format")
    parser.add_argument("--mesh-level", type=float, default=m.level, help="marching-cubes level on σ (default: %(default)s)")
    parser.add_argument("--clean-meshes", action="store_true",
                        help="drop the box's walls and floaters, smooth lightly (helpers.mesh.cleanup)")
    parser.add_argument("--mesh-faces", type=int, default=None,
                        help="with --clean-meshes: decimate each mesh to this many faces")
    parser.add_argument("--mrc", action="store_true", help="also write each density volume as .mrc")
    parser.add_argument("--legacy", action="store_true",
                        help="also write the original project's formats (depth128x128/, cam_poses/, latent/)")
    parser.add_argument("--precision", choices=tuple(PRECISIONS), default=s.precision, help="autocast precision")
    parser.add_argument("--shard", type=types["shard"], default=None,
                        help="i/n: render only this shard's batches (default: from torchrun, else all)")
    parser.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1… (default: %(default)s)")
    parser.add_argument("--workers", type=types["workers"], default=d.workers,
                        help="file-writing threads (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> GenerateConfig:
    """The run of a ``generate`` command line; values the settings refuse are :class:`UserError` (one line)."""
    try:
        if args.mesh_faces is not None and not args.clean_meshes:
            raise ValueError("--mesh-faces decimates cleaned meshes: add --clean-meshes")
        clean = CleanConfig(target_faces=args.mesh_faces) if args.clean_meshes else None
        mesh = (MeshSettings(resolution=args.mesh_resolution, format=args.mesh_format, level=args.mesh_level,
                             mrc=args.mrc, clean=clean) if args.meshes else None)
        settings = SampleSettings(
            truncation_psi=args.truncation_psi, truncation_cutoff=args.truncation_cutoff,
            conditioning=args.conditioning, viewpoints=args.viewpoints or ViewpointMix(),
            depth_range=tuple(args.depth_range) if args.depth_range else None,
            depth_min_opacity=args.depth_min_opacity, mesh=mesh, legacy=args.legacy, precision=args.precision,
        )
        return GenerateConfig(out=args.out, seeds=args.seeds, checkpoint=args.checkpoint, settings=settings,
                              batch_size=args.batch_size, shard=args.shard, device=args.device,
                              workers=args.workers, progress=args.progress)
    except ValueError as error:
        text = str(error)
        raise UserError(text if " — " in text else f"{text} — see `python -m helpers generate --help`") from error


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.dry_run:
        print(plan(config).describe())
        return 0
    report = generate(config)
    print(f"wrote {report.written} samples in {report.seconds:.1f} s ({report.samples_per_second:.2f} samples/s); "
          f"{report.skipped} were already there → {report.out}")
    return 0
