"""SIGKILL at random moments of ``generate``, ``invert`` and ``train-depth``, then the same command again:
the result is byte for byte the result of an uninterrupted run, and nothing half-written is visible.

Each test kills its command three times in one folder (so resumes are themselves killed) at moments
drawn from a seeded random source (see ``kill_points``), then lets it finish.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from helpers.dataset_folder.manifest import check_sample_files, iter_files, read_samples
from tests.depth.conftest import TINY_UNET_FLAGS
from tests.faults.kill_points import SEED, finish, helpers_command, kill_when, line_count, rng
from tests.faults.outcomes import assert_same_final_weights, leftovers, sample_bytes

KILLS = 3


def kill_repeatedly(name: str, command: list[str], progress, total: int) -> list[int]:
    """Kill ``command`` ``KILLS`` times, each once ``progress()`` has grown by a random amount (0 = at start-up)
    plus a random delay; returns the progress at each kill that landed."""
    source, landed = rng(name), []
    for _ in range(KILLS):
        start = progress()
        if start >= total:
            break
        target = start + source.randint(0, total - start - 1)
        if kill_when(command, lambda target=target: progress() >= target, delay_s=source.uniform(0, 0.4)):
            landed.append(progress())
    assert landed, f"no kill landed (HELPERS_FAULT_SEED={SEED})"
    return landed


def test_generate(tmp_path: Path):
    args = ["--checkpoint", "tiny-random", "--seeds", "0-7", "--batch-size", "2", "--device", "cpu",
            "--workers", "2", "--no-progress", "--depth-min-opacity", "0.4"]
    finish(helpers_command("generate", *args, "--out", str(tmp_path / "reference")))
    out = tmp_path / "killed"
    command = helpers_command("generate", *args, "--out", str(out))
    kill_repeatedly("generate", command, lambda: line_count(out / "manifest.jsonl"), total=8)
    if out.exists():
        check_sample_files(out, read_samples(out).values())  # what is visible after the kills is whole
    finish(command)
    assert sample_bytes(out) == sample_bytes(tmp_path / "reference"), f"HELPERS_FAULT_SEED={SEED}"
    assert leftovers(out) == []


def test_train_depth(tmp_path: Path, small_heads: Path):
    heads = small_heads
    args = [*TINY_UNET_FLAGS, "--batch-size", "3", "--epochs", "100", "--max-steps", "60", "--checkpoint-every", "2",
            "--eval-every", "5"]
    finish(helpers_command("train-depth", str(heads), "--out", str(tmp_path / "reference"), *args))
    out = tmp_path / "killed"
    command = helpers_command("train-depth", str(heads), "--out", str(out), *args)

    seen: dict = {"mtime": None, "step": 0}

    def step() -> int:  # the step of the newest checkpoint
        try:
            mtime = (out / "last.pt").stat().st_mtime_ns
            if mtime != seen["mtime"]:
                seen.update(mtime=mtime, step=torch.load(out / "last.pt", weights_only=True)["progress"]["step"])
        except (FileNotFoundError, RuntimeError, EOFError):
            pass
        return seen["step"]

    reference = torch.load(tmp_path / "reference" / "last.pt", weights_only=True)
    kill_repeatedly("train-depth", command, step, total=reference["progress"]["step"])
    resumes = (out / "last.pt").is_file()  # else every kill landed before the first checkpoint
    done = finish(command)
    assert ("resuming" in done.stdout) == resumes
    steps = [int(line.split(",")[0]) for line in (out / "train_log.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)), "rows after the last checkpoint were redone, not doubled"
    assert_same_final_weights(out, tmp_path / "reference", f"(HELPERS_FAULT_SEED={SEED})")
    assert (out / "best.pt").is_file() and leftovers(out) == []


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    pytest.importorskip("dlib", reason="needs the [face] extra: pip install dlib-bin face_recognition_models")
    root = tmp_path_factory.mktemp("photos")
    astronaut = data.astronaut()
    Image.fromarray(astronaut).save(root / "astronaut.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(root / "mirrored.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1][20:, 10:])).save(root / "shifted.png")
    return root


def test_invert(tmp_path: Path, photos: Path):
    args = ["--checkpoint", "tiny-random", "--preset", "smoke", "--projection-steps", "2", "--tuning-steps", "2",
            "--lpips", "random", "--device", "cpu", "--no-progress"]
    finish(helpers_command("invert", str(photos), "--out", str(tmp_path / "reference"), *args))
    out = tmp_path / "killed"
    command = helpers_command("invert", str(photos), "--out", str(out), *args)
    kill_repeatedly("invert", command, lambda: line_count(out / "manifest.jsonl"), total=3)
    if out.exists():
        check_sample_files(out, read_samples(out).values())
    finish(command)
    expected = inversion_bytes(tmp_path / "reference")
    assert len(read_samples(out)) == 3 and inversion_bytes(out) == expected, f"HELPERS_FAULT_SEED={SEED}"
    assert leftovers(out) == []


def _timeless(name: str, data: bytes) -> bytes:
    """A file of an inversion without its timings (``seconds``: the only thing that differs from run to run)."""
    if name.endswith(".json"):
        record = json.loads(data)
        record.pop("seconds", None)
        return json.dumps(record, sort_keys=True).encode()
    if name.endswith(".csv"):
        rows = [line.split(",") for line in data.decode().splitlines()]
        column = rows[0].index("seconds")
        return "\n".join(",".join(row[:column] + row[column + 1:]) for row in rows).encode()
    return data


def inversion_bytes(root: Path) -> dict[str, bytes]:
    """Every file of every inverted photo (its sample files and its ``details`` folder) and its manifest record,
    timings left out."""
    out = {}
    for sid, record in read_samples(root).items():
        out[f"record:{sid}"] = _timeless(".json", json.dumps(record).encode())
        files = [*iter_files(record), *(str(p.relative_to(root)) for p in sorted((root / record["details"]).iterdir()))]
        for rel in files:
            out[rel] = _timeless(rel, (root / rel).read_bytes())
    return out
