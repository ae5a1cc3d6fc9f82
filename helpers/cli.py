"""Command line: ``python -m helpers <command> [options]`` (also installed as ``eg3d-face``).

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so ``--help`` stays fast. Jobs run with
:func:`helpers.base.runtime.keep_freed_memory` (``HELPERS_KEEP_FREED_MEMORY=0`` turns it off).

Errors the user can act on (:func:`user_error_message` lists the classes) print one line,
``error: <what> — <what to do>``, and exit with code 2: bad flag values, missing files, a folder made with other
settings, a full disk, a read-only folder, a busy folder, an unknown checkpoint, no GPU for ``--device cuda``.
``--debug`` (anywhere on the line) or ``HELPERS_DEBUG=1`` shows the traceback instead. Ctrl-C prints one line and
exits with code 130. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

import torch

from helpers import __version__
from helpers.base.errors import DISK_FULL_ERRNOS, READ_ONLY_ERRNOS, UserError, user_message
from helpers.base.runtime import KEEP_FREED_MEMORY_ENV, keep_freed_memory
from helpers.dataset_folder.layout import DatasetFolderError
from helpers.download import ChecksumError, DownloadError

__all__ = ["COMMANDS", "DEBUG_ENV", "build_parser", "main", "user_error_message"]

#: command name -> (module, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("helpers.demo", "run the main job end to end and write its results under outputs/demo/"),
    "generate": ("helpers.generation.generate_command", "generate a synthetic face dataset with EG3D (resumable, shardable)"),
    "video": ("helpers.generation.video_command",
              "EG3D's interpolation videos (gen_videos.py: seeds, grid, orbit, image/depth) and mesh turntables"),
    "fid": ("helpers.generation.fid_command",
            "FID and KID of a generator or images against a reference folder (EG3D's protocol, LPFF's cameras)"),
    "merge": ("helpers.dataset_folder.merge", "combine dataset folders or shard manifests into one dataset"),
    "export-eg3d": ("helpers.dataset_folder.eg3d_export",
                    "a dataset folder → the images and dataset.json EG3D's train.py reads (folder or zip)"),
    "invert": ("helpers.invert.folder_inversion", "real photos → EG3D (alignment, camera, PTI): a Prosopo-style dataset folder"),
    "process-lpff": ("helpers.photo3d.lpff_processing",
                     "your own photos through LPFF's processing: crops, cameras, filter, review, rebalanced dataset"),
    "render": ("helpers.photo3d.render_command",
               "one EG3D face (latent file, seed, dataset sample, inversion) → image, depth, mask, mesh, novel views"),
    "reconstruct": ("helpers.photo3d.reconstruct_command",
                    "face photos → 3D faces (a depth model, an encoder or PTI): crop, camera, depth, mesh, viewer"),
    "train-latent": ("helpers.latent.latent_training", "train (or resume) an encoder that predicts EG3D's latent w from a photo"),
    "train-depth": ("helpers.depth.depth_training", "train (or resume) a depth regressor: Attention U-Net, DPT, Depth Anything"),
    "datasets": ("helpers.datasets.datasets_cli", "public datasets: list, info, download (licence first), convert"),
}

#: Environment variable that makes every command show the traceback of a user error (as ``--debug``).
DEBUG_ENV = "HELPERS_DEBUG"
_DEBUG_FLAG = "--debug"



class _UsageError(UserError):
    """A command line argparse refused (unknown option, bad value, missing argument)."""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line: ``error: <what> — see `<prog> --help` `` (exit code 2)."""

    #: the program whose ``--help`` the hint names (the command's, also for what the top level reports)
    help_prog: str | None = None

    def error(self, message: str) -> None:  # type: ignore[override]
        hint = f"see `{self.help_prog or self.prog} --help`"
        raise _UsageError(message if " — " in message else user_message(message, hint))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="python -m helpers",
        description="Single-image 3D face reconstruction built on EG3D synthetic data.",
    )
    if command in COMMANDS:
        parser.help_prog = f"{parser.prog} {command}"  # "unrecognized arguments" comes from the top level
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(_DEBUG_FLAG, action="store_true",
                        help=f"show the traceback of an error instead of one line (also {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, description) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=description, description=description)
        if name == command:
            importlib.import_module(module).add_arguments(sub_parser)
    return parser


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _os_text(error: OSError) -> str:
    """``"No space left on device: /data/x.png"``, not ``"[Errno 28] No space left on device: '/data/x.png'"``."""
    if error.strerror and error.filename is not None:
        return f"{error.strerror}: {os.fsdecode(error.filename)}"
    return str(error.strerror or error)


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _raised_by_toolkit(error: BaseException) -> bool:
    """Whether ``error`` was raised by the toolkit's own code (its innermost frame is in ``helpers``), not inside
    a library it called (where a ``ValueError`` is a bug of ours: wrong shapes, wrong types)."""
    tb = error.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE + os.sep)


def user_error_message(error: BaseException, command: str | None = None) -> str | None:
    """``"<what> — <what to do>"`` (one line) when ``error`` is the user's to fix, None when it is a bug.

    The user's errors: :class:`~helpers.base.errors.UserError` (busy folders, unknown devices, and every subclass
    the toolkit raises); ``FileNotFoundError``, ``NotADirectoryError``, ``IsADirectoryError``, ``PermissionError``
    and ``OSError`` with ``ENOSPC``, ``EDQUOT`` or ``EROFS`` (paths, full disks, read-only folders); ``ValueError``
    raised by the toolkit's own code (bad values; its checkpoint, alignment, dataset-name and settings errors derive
    from it; a ``ValueError`` from inside a library is a bug);
    ``DatasetFolderError`` (a folder made with other settings or missing files) and ``DownloadError`` (network,
    manual downloads), the two ``RuntimeError`` families that are the user's; a missing module, or an
    ``ImportError`` the toolkit raised (a missing optional package or model file: its messages name the extra to
    install; a circular import is a bug); CUDA out of memory. Other
    ``RuntimeError``, ``OSError``, ``TypeError``, ``KeyError``… are bugs and keep their traceback.
    """
    help_hint = f"see `python -m helpers {command} --help`" if command else "see `python -m helpers --help`"
    if isinstance(error, UserError):
        what, todo = _one_line(str(error)), help_hint
    elif isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        what, todo = _os_text(error), "free some space or choose another --out; run the same command again to resume"
    elif isinstance(error, OSError) and error.errno in READ_ONLY_ERRNOS:
        what, todo = _os_text(error), "the folder is on a read-only file system: choose another --out"
    elif isinstance(error, PermissionError):
        what, todo = _os_text(error), "check that you may read (or write) there, or choose another path or --out"
    elif isinstance(error, FileNotFoundError):
        what, todo = _os_text(error), f"check the path; {help_hint}"
    elif isinstance(error, NotADirectoryError):
        what, todo = _os_text(error), "a folder was expected at that path (or one of its parents is a file)"
    elif isinstance(error, IsADirectoryError):
        what, todo = _os_text(error), "a file was expected at that path, not a folder"
    elif isinstance(error, DatasetFolderError):
        what, todo = _one_line(str(error)), "check the folder (docs/data-formats.md) or choose another --out"
    elif isinstance(error, ChecksumError):
        what, todo = _one_line(str(error)), ("run the same command again to download it afresh; if it fails again, "
                                              "the source changed: report it")
    elif isinstance(error, DownloadError):
        what, todo = _one_line(str(error)), "check the network and run the same command again (downloads resume)"
    elif isinstance(error, torch.cuda.OutOfMemoryError):
        what = ". ".join(_one_line(str(error)).split(". ")[:2])  # "CUDA out of memory. Tried to allocate 2.00 GiB"
        todo = "lower --batch-size, use --precision bf16, or a GPU with more memory"
    elif isinstance(error, ModuleNotFoundError) or (isinstance(error, ImportError) and _raised_by_toolkit(error)
                                                      and "cannot import name" not in str(error)):
        what, todo = _one_line(str(error)), "install the missing package (docs/install.md lists the extras)"
    elif isinstance(error, ValueError) and _raised_by_toolkit(error):
        what, todo = _one_line(str(error)), f"{help_hint}; --debug shows where it was raised"
    else:
        return None
    what = what or type(error).__name__
    return what if " — " in what else user_message(what, todo)


def _debug_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether ``--debug`` is on the line (before any ``--``) or ``HELPERS_DEBUG`` is set; the line without it."""
    end = argv.index("--") if "--" in argv else len(argv)
    flagged = _DEBUG_FLAG in argv[:end]
    rest = [a for a in argv[:end] if a != _DEBUG_FLAG] + argv[end:]
    return flagged or os.environ.get(DEBUG_ENV, "") not in ("", "0"), rest


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (2: a user error, printed as one line; 130: interrupted)."""
    debug, argv = _debug_requested(list(sys.argv[1:] if argv is None else argv))
    command = next((a for a in argv if not a.startswith("-")), None)
    command = command if command in COMMANDS else None
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if os.environ.get(KEEP_FREED_MEMORY_ENV, "1") != "0":
            keep_freed_memory()  # the process is ours: large CPU tensors are reused instead of faulted in again
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted — run the same command again to go on where it stopped", file=sys.stderr)
        return 130
    except Exception as error:
        message = user_error_message(error, command)
        if debug or message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
