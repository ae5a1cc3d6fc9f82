"""A real full disk: ``generate`` and ``train-depth`` write into a small tmpfs until it is full.

The command stops with one line (``error: No space left on device: <file> — free some space …``, exit code 2);
what it had written is whole (a copy of the folder is taken before the tmpfs goes away), and the same command run
again on that copy with room to spare ends byte for byte where an uninterrupted run ends.

The tmpfs is mounted in a private mount namespace (``unshare -rm``: no root needed where user namespaces are
allowed); where that is refused the tests are skipped and say why.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.dataset_folder.manifest import check_sample_files, read_samples
from tests.depth.conftest import TINY_UNET_FLAGS
from tests.faults.kill_points import REPO, finish, helpers_command
from tests.faults.outcomes import assert_same_final_weights, leftovers, sample_bytes


def _small_disk_unavailable(probe: Path) -> str | None:
    """Why a tmpfs cannot be mounted here (None when it can)."""
    if shutil.which("unshare") is None:
        return "no `unshare` on this machine"
    probe.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(probe))}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return f"cannot mount a tmpfs in a user namespace here ({done.stderr.strip() or done.returncode})"
    return None


def run_on_small_disk(command: list[str], disk: Path, size: str, keep: Path) -> subprocess.CompletedProcess:
    """Run ``command`` with a ``size`` tmpfs mounted at ``disk``; copy what it wrote there to ``keep`` afterwards."""
    disk.mkdir(parents=True, exist_ok=True)
    script = (f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(disk))} || exit 99; "
              f"{shlex.join(command)}; code=$?; cp -a {shlex.quote(str(disk))}/. {shlex.quote(str(keep))}/; exit $code")
    keep.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture()
def small_disk(tmp_path: Path) -> Path:
    reason = _small_disk_unavailable(tmp_path / "probe")
    if reason:
        pytest.skip(reason)
    return tmp_path / "disk"


def assert_disk_full_line(done: subprocess.CompletedProcess) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr[-3000:]
    assert lines and lines[-1].startswith("error: No space left on device: ") and "free some space" in lines[-1], \
        done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def test_generate_on_a_full_disk(tmp_path: Path, small_disk: Path):
    args = ["--checkpoint", "tiny-random", "--seeds", "0-5", "--batch-size", "1", "--device", "cpu", "--no-progress"]
    finish(helpers_command("generate", *args, "--out", str(tmp_path / "reference")))
    kept = tmp_path / "kept"
    done = run_on_small_disk(helpers_command("generate", *args, "--out", str(small_disk / "set")), small_disk, "200k",
                             kept)
    assert_disk_full_line(done)
    written = read_samples(kept / "set")
    assert 0 < len(written) < 6, "the disk should fill up part-way"
    check_sample_files(kept / "set", written.values())  # every sample in the manifest is whole
    finish(helpers_command("generate", *args, "--out", str(kept / "set")))  # room again: the same command resumes
    assert sample_bytes(kept / "set") == sample_bytes(tmp_path / "reference")
    assert leftovers(kept / "set") == []


def test_train_depth_on_a_full_disk(tmp_path: Path, small_disk: Path, small_heads: Path):
    heads = small_heads
    args = [*TINY_UNET_FLAGS, "--batch-size", "2", "--epochs", "100", "--max-steps", "8", "--checkpoint-every", "2"]
    finish(helpers_command("train-depth", str(heads), "--out", str(tmp_path / "reference"), *args))
    kept = tmp_path / "kept"
    done = run_on_small_disk(helpers_command("train-depth", str(heads), "--out", str(small_disk / "run"), *args),
                             small_disk, "120k", kept)
    assert_disk_full_line(done)
    assert leftovers(kept / "run") == []  # no half-written checkpoint
    finish(helpers_command("train-depth", str(heads), "--out", str(kept / "run"), *args))
    assert_same_final_weights(kept / "run", tmp_path / "reference")
