"""Command line: ``python -m helpers <command> [options]`` (also installed as ``eg3d-face``).

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so ``--help`` stays fast. Jobs run with
:func:`helpers.base.runtime.keep_freed_memory` (``HELPERS_KEEP_FREED_MEMORY=0`` turns it off).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from helpers import __version__
from helpers.base.runtime import KEEP_FREED_MEMORY_ENV, keep_freed_memory

#: command name -> (module, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("helpers.demo", "run the main job end to end and write its results under outputs/demo/"),
    "generate": ("helpers.generation.generate_dataset", "generate a synthetic face dataset with EG3D (resumable, shardable)"),
    "merge": ("helpers.dataset_folder.merge", "combine dataset folders or shard manifests into one dataset"),
    "invert": ("helpers.invert.folder_inversion", "real photos → EG3D (alignment, camera, PTI): a Prosopo-style dataset folder"),
    "reconstruct": ("helpers.photo3d.reconstruct_command",
                    "face photos → 3D faces (a depth model, an encoder or PTI): crop, camera, depth, mesh, viewer"),
    "train-latent": ("helpers.latent.latent_training", "train (or resume) an encoder that predicts EG3D's latent w from a photo"),
    "train-depth": ("helpers.depth.depth_training", "train (or resume) a depth regressor: Attention U-Net, DPT, Depth Anything"),
    "datasets": ("helpers.datasets.datasets_cli", "public datasets: list, info, download (licence first), convert"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers",
        description="Single-image 3D face reconstruction built on EG3D synthetic data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, description) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=description, description=description)
        if name == command:
            importlib.import_module(module).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if os.environ.get(KEEP_FREED_MEMORY_ENV, "1") != "0":
        keep_freed_memory()  # the process is ours: large CPU tensors are reused instead of faulted in again
    return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
