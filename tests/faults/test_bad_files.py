"""Bad weight files given to the commands themselves: every command that reads weights refuses each kind of bad
file (:data:`tests.bad_files.BAD_FILES`: malicious pickles, empty, text, a web page, a truncated archive) with one
``error:`` line that names the file, exit code 2, no traceback, no advice to turn the safety off, and nothing from the
file runs (the malicious files would create a marker file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from tests.bad_files import BAD_FILES, bad_weights_file
from tests.depth.conftest import TINY_UNET_FLAGS
from tests.user_errors import one_line_error

CPU = ["--device", "cpu"]


@pytest.fixture(scope="module")
def face(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(np.ascontiguousarray(data.astronaut())).save(path)
    return path


def _resume_from(bad: Path, out: Path) -> Path:
    """A run folder whose training state (``last.pt``) is the bad file."""
    out.mkdir(parents=True, exist_ok=True)
    bad.replace(out / "last.pt")
    return out / "last.pt"


#: command line given a bad file ``bad`` (and a run folder ``out``, the photo ``face``, the data ``heads``);
#: returns the arguments and the path the error must name.
COMMANDS: dict[str, Callable[[Path, Path, Path, Path], tuple[list[str], Path]]] = {
    "generate --checkpoint": lambda bad, out, face, heads: (
        ["generate", "--checkpoint", str(bad), "--seeds", "0", "--out", str(out), "--no-progress", *CPU], bad),
    "invert --checkpoint": lambda bad, out, face, heads: (
        ["invert", str(face), "--checkpoint", str(bad), "--preset", "smoke", "--out", str(out), "--no-progress",
         *CPU], bad),
    "reconstruct --method depth --model": lambda bad, out, face, heads: (
        ["reconstruct", str(face), "--method", "depth", "--model", str(bad), "--out", str(out), *CPU], bad),
    "reconstruct --method latent --model": lambda bad, out, face, heads: (
        ["reconstruct", str(face), "--method", "latent", "--model", str(bad), "--generator", "tiny-random",
         "--out", str(out), *CPU], bad),
    "reconstruct --method pti --generator": lambda bad, out, face, heads: (
        ["reconstruct", str(face), "--method", "pti", "--generator", str(bad), "--pti-preset", "smoke",
         "--out", str(out), *CPU], bad),
    "reconstruct --method pti --lpips": lambda bad, out, face, heads: (
        ["reconstruct", str(face), "--method", "pti", "--generator", "tiny-random", "--lpips", str(bad),
         "--pti-preset", "smoke", "--out", str(out), *CPU], bad),
    "train-latent --generator": lambda bad, out, face, heads: (
        ["train-latent", str(heads), "--generator", str(bad), "--out", str(out), "--no-progress", *CPU], bad),
    "train-depth (resume from last.pt)": lambda bad, out, face, heads: (
        ["train-depth", str(heads), "--out", str(out), *TINY_UNET_FLAGS], _resume_from(bad, out)),
}


@pytest.mark.parametrize("kind", BAD_FILES)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_every_bad_weights_file(command: str, kind: str, tmp_path: Path, face: Path,
                                                      small_heads: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    suffix = ".pkl" if "checkpoint" in command or "generator" in command else ".pt"
    bad = bad_weights_file(kind, tmp_path, marker, suffix)
    argv, named = COMMANDS[command](bad, tmp_path / "out", face, small_heads)
    line = one_line_error(capsys, argv, named.name)
    assert "weights_only" not in line  # never the advice to disable the safety
    assert not marker.exists()  # nothing from the file ran
