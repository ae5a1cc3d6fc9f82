"""Errors a user can act on come out of every command as one line, ``error: <what> — <what to do>``, with exit code 2
and no traceback (``--debug`` or ``HELPERS_DEBUG=1`` shows it): a test per class of error for each command.

Full disks and read-only folders are simulated (the tests run as root, which ignores permissions): the function
that writes raises the ``OSError`` the kernel would (``ENOSPC``, ``EROFS``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli
from helpers.base.errors import UserError
from helpers.base.folder_lock import folder_lock
from helpers.dataset_folder import merge as merge_module
from helpers.dataset_folder import meta as meta_module
from helpers.dataset_folder.manifest import shard_manifest_name
from helpers.generation import generate_command
from helpers.generation import generate_dataset as gen
from helpers.invert import folder_inversion
from helpers.photo3d import reconstruct_command
from tests.depth.conftest import TINY_UNET_FLAGS
from tests.user_errors import one_line_error

TINY = ["--checkpoint", "tiny-random", "--device", "cpu", "--no-progress"]


def fail_with(monkeypatch: pytest.MonkeyPatch, target: object, name: str, code: int) -> None:
    """``target.name`` raises ``OSError(code)`` as the kernel does for a write (ENOSPC: full disk, EROFS: read-only)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(args[0]) if args else None)

    monkeypatch.setattr(target, name, refuse)


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Creating anything under ``folder`` fails as on a read-only file system (EROFS)."""
    real = Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if self == folder or folder in self.parents:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)


def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sample of the tiny random generator (ψ = 0.7): a folder to resume with other settings."""
    out = tmp_path_factory.mktemp("generated") / "set"
    gen.generate(gen.GenerateConfig(out=out, seeds=(0,), checkpoint="tiny-random", batch_size=1, device="cpu",
                                    progress=False), log=lambda *_: None)
    return out


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "face.png"
    Image.fromarray(np.full((64, 64, 3), 127, np.uint8)).save(path)
    return path


# ------------------------------------------------------------------------------------------------ the central handling
def test_debug_flag_and_environment_show_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["generate", "--seeds", "0", "--out", str(tmp_path / "x"), "--checkpoint", "tiny-randm"]
    one_line_error(capsys, argv, "did you mean 'tiny-random'")
    with pytest.raises(ValueError, match="unknown checkpoint name"):
        cli.main(["--debug", *argv])
    with pytest.raises(ValueError, match="unknown checkpoint name"):
        cli.main([*argv, "--debug"])  # anywhere on the line
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(ValueError, match="unknown checkpoint name"):
        cli.main(argv)
    monkeypatch.setenv(cli.DEBUG_ENV, "0")
    one_line_error(capsys, argv, "did you mean")


def test_a_bug_keeps_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(config: object, **kwargs: object) -> None:
        raise KeyError("a bug, not the user's")

    monkeypatch.setattr(generate_command, "generate", broken)  # what the command calls
    with pytest.raises(KeyError):
        cli.main(["generate", "--seeds", "0", "--out", str(tmp_path / "x"), *TINY])
    assert cli.user_error_message(RuntimeError("CUDA error: an illegal memory access")) is None
    assert cli.user_error_message(TypeError("unsupported operand")) is None


def test_a_value_error_from_inside_a_library_or_a_circular_import_is_a_bug() -> None:
    try:
        np.zeros(3).reshape(2, 2)  # numpy raises: a wrong shape of ours, not the user's value
    except ValueError as error:
        assert cli.user_error_message(error) is None
    try:
        raise ValueError("--trunc must be in [0, 1]")  # raised by the toolkit's code (here: this test's frame)
    except ValueError as error:
        library_frame = error
    assert cli.user_error_message(ValueError("--trunc must be in [0, 1]")) is not None  # no traceback: ours
    assert cli.user_error_message(library_frame) is None  # this frame is outside helpers/
    assert cli.user_error_message(ModuleNotFoundError("No module named 'dlib'")) is not None
    try:
        exec("from helpers import not_a_module_of_ours")  # "cannot import name …": a broken import of ours
    except ImportError as error:
        assert cli.user_error_message(error) is None


def test_ctrl_c_is_one_line_and_exit_code_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(config: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(generate_command, "generate", interrupted)
    assert cli.main(["generate", "--seeds", "0", "--out", str(tmp_path / "x"), *TINY]) == 130
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("interrupted — ") and "Traceback" not in err


@pytest.mark.parametrize(("error", "expected"), [
    (OSError(errno.ENOSPC, "No space left on device", "/data/x.png"), "No space left on device: /data/x.png — free"),
    (OSError(errno.EDQUOT, "Disk quota exceeded", "/data/x.png"), "Disk quota exceeded: /data/x.png — free"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/x"), "Read-only file system: /mnt/x — the folder is on a "),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "Permission denied: /root/x — check that you"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "a.png"), "No such file or directory: a.png — "),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "a/b"), "Not a directory: a/b — a folder was expected"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "a"), "Is a directory: a — a file was expected"),
    (ValueError("bad\nvalue"), "bad value — see `python -m helpers generate --help`"),
    (UserError("what", "todo"), "what — todo"),
    (ModuleNotFoundError("No module named 'dlib'"), "No module named 'dlib' — install"),
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has 1 GiB free. More text"),
     "CUDA out of memory. Tried to allocate 2.00 GiB — lower --batch-size"),
])
def test_each_class_of_user_error_gets_what_to_do(error: BaseException, expected: str) -> None:
    message = cli.user_error_message(error, "generate")
    assert message is not None and message.startswith(expected) and "\n" not in message


def test_resolve_device_refuses_what_this_machine_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.base.runtime import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(UserError, match=r"no GPU support \(torch .*\) — use --device cpu or auto, or install"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.4")  # a CUDA build on a machine without a visible GPU
    with pytest.raises(UserError, match="no GPU is visible .* CUDA_VISIBLE_DEVICES"):
        resolve_device("cuda:0")
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UserError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # one GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda") == torch.device("cuda", 0) == resolve_device("auto")  # an index: set_device needs it
    with pytest.raises(UserError, match="CUDA device 3 .* 1 GPU"):
        resolve_device("cuda:3")


# ------------------------------------------------------------------------------------------------ generate
@pytest.mark.parametrize(("flags", "expected"), [
    (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
    (["--trunc", "-5"], "argument --trunc: truncation ψ must be in [0, 1], got -5.0"),
    (["--viewpoints", "frontal=2"], "argument --viewpoints: share of 'frontal' is 2, outside [0, 1]"),
    (["--viewpoints", "frontal=0.5"], "viewpoint shares add up to 0.5, not 1"),
    (["--seeds", "5-2"], "argument --seeds: seed range '5-2' runs backwards"),
    (["--shard", "3/2"], "argument --shard: --shard looks like i/n"),
    (["--workers", "0"], "argument --workers: must be at least 1"),
    (["--trunc-cutoff", "-1"], "truncation cutoff must be >= 0"),
    (["--mesh-resolution", "4"], "mesh resolution must be >= 8"),
    (["--depth-range", "3", "2"], "depth range must satisfy 0 < near < far"),
    (["--bogus"], "unrecognized arguments: --bogus — see `python -m helpers generate --help`"),
])
def test_generate_refuses_bad_flag_values(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
                                          expected: str) -> None:
    one_line_error(capsys, ["generate", "--seeds", "0", "--out", str(tmp_path / "x"), *TINY, *flags], expected)
    assert not (tmp_path / "x").exists()


def test_generate_missing_checkpoint_file_and_typo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ["--seeds", "0", "--out", str(tmp_path / "x"), "--device", "cpu"]
    one_line_error(capsys, ["generate", *out, "--checkpoint", str(tmp_path / "nope.pkl")], "does not exist")
    line = one_line_error(capsys, ["generate", *out, "--checkpoint", "ffhq512-12"], "did you mean 'ffhq512-128'?")
    assert "tiny-random" in line  # the offline generator is among the known names
    assert not (tmp_path / "x").exists()


def test_generate_resume_with_other_settings(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(capsys, ["generate", "--seeds", "0-1", "--out", str(dataset), *TINY, "--trunc", "0.5"],
                   "holds samples made with other settings (settings.truncation_psi: 0.7 vs 0.5) — use the same")


def test_generate_full_disk_and_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with monkeypatch.context() as patch:
        fail_with(patch, gen.SampleWriter, "write", errno.ENOSPC)  # the disk fills up with the first sample's files
        one_line_error(capsys, ["generate", "--seeds", "0", "--out", str(tmp_path / "x"), *TINY],
                       "No space left on device", "free some space", "run the same command again to resume")
    assert (tmp_path / "x" / "manifest.jsonl").read_text() == ""  # nothing half-written became visible
    with monkeypatch.context() as patch:
        fail_with(patch, meta_module, "write_meta", errno.EROFS)  # a folder on a read-only mount
        one_line_error(capsys, ["generate", "--seeds", "0", "--out", str(tmp_path / "y"), *TINY],
                       "Read-only file system", "choose another --out")
    read_only(monkeypatch, tmp_path / "ro")  # a new folder under a read-only one
    one_line_error(capsys, ["generate", "--seeds", "0", "--out", str(tmp_path / "ro" / "x"), *TINY],
                   "Read-only file system", "choose another --out")


def test_generate_into_a_folder_without_write_permission(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder without write permission. Root ignores permissions, so as root the command runs in a user namespace
    (``unshare --map-user``), where the folder's owner bits apply to it like to anyone else."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    argv = ["generate", "--seeds", "0", "--out", str(locked / "x"), *TINY]
    try:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            one_line_error(capsys, argv, "Permission denied", "check that you may read (or write) there")
            return
        if shutil.which("unshare") is None:
            pytest.skip("root ignores folder permissions and there is no `unshare` to drop that")
        done = subprocess.run(["unshare", "--map-user=1000", "--map-group=1000", sys.executable, "-m", "helpers",
                               *argv], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 2 and done.stderr.startswith("unshare:"):
            pytest.skip(f"root ignores folder permissions and a user namespace is refused here: {done.stderr.strip()}")
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
        assert lines[0].startswith(f"error: Permission denied: {locked / 'x'}") and "Traceback" not in done.stderr
    finally:
        locked.chmod(0o700)
    assert not (locked / "x").exists()


def test_generate_device_cuda_without_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    no_gpu(monkeypatch)
    argv = ["generate", "--seeds", "0", "--out", str(tmp_path / "x"), "--checkpoint", "tiny-random"]
    one_line_error(capsys, [*argv, "--device", "cuda"], "CUDA was asked for", "use --device cpu or auto")
    one_line_error(capsys, [*argv, "--device", "gpu"], "unknown device 'gpu' — use auto, cpu, cuda")
    assert not (tmp_path / "x").exists()


def test_generate_into_a_folder_being_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with folder_lock(tmp_path / "x", "generate"):
        one_line_error(capsys, ["generate", "--seeds", "0", "--out", str(tmp_path / "x"), *TINY],
                       "is being written by generate", "wait for that run to finish")
    assert not (tmp_path / "x" / "meta.json").exists()


# ------------------------------------------------------------------------------------------------ invert
@pytest.mark.parametrize(("flags", "expected"), [
    (["--tuning-steps", "-1"], "--tuning-steps must be at least 0"),
    (["--face", "biggest"], "--face takes largest, only or an index"),
    (["--camera-labels", "nope.json"], "no such file: nope.json"),
    (["--preset", "slow"], "argument --preset: invalid choice"),
])
def test_invert_refuses_bad_flag_values(tmp_path: Path, photo: Path, capsys: pytest.CaptureFixture[str],
                                        flags: list[str], expected: str) -> None:
    one_line_error(capsys, ["invert", str(photo), "--out", str(tmp_path / "x"), *TINY, *flags], expected)
    assert not (tmp_path / "x").exists()


def test_invert_missing_photo_and_unknown_checkpoint(tmp_path: Path, photo: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(capsys, ["invert", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "x"), *TINY],
                   "no such photo or folder")
    assert not (tmp_path / "x").exists()
    one_line_error(capsys, ["invert", str(photo), "--out", str(tmp_path / "x"), "--device", "cpu", "--checkpoint",
                            "tiny-randon"], "did you mean 'tiny-random'?")


def test_invert_into_a_folder_made_with_other_settings(dataset: Path, photo: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(capsys, ["invert", str(photo), "--out", str(dataset), *TINY, "--lpips", "random"],
                   "holds samples made with other settings")


def test_invert_full_disk_stops_the_run_instead_of_failing_every_photo(
        tmp_path: Path, photo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fail_with(monkeypatch, folder_inversion, "invert_photo", errno.ENOSPC)  # as a write of the photo's files would
    monkeypatch.setattr(folder_inversion, "load_lpips_nets", lambda *args, **kwargs: None)
    out = tmp_path / "x"
    one_line_error(capsys, ["invert", str(photo), "--out", str(out), *TINY, "--lpips", "random", "--preset", "smoke"],
                   "No space left on device", "run the same command again to resume")
    assert not (out / folder_inversion.FAILURES).exists()  # the photo is not logged as a failure of its own
    fail_with(monkeypatch, meta_module, "write_meta", errno.ENOSPC)
    one_line_error(capsys, ["invert", str(photo), "--out", str(tmp_path / "y"), *TINY], "No space left on device")


def test_invert_read_only_folder_busy_folder_and_no_gpu(tmp_path: Path, photo: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with folder_lock(tmp_path / "busy", "generate"):
        one_line_error(capsys, ["invert", str(photo), "--out", str(tmp_path / "busy"), *TINY],
                       "is being written by generate")
    no_gpu(monkeypatch)
    one_line_error(capsys, ["invert", str(photo), "--out", str(tmp_path / "x"), "--checkpoint", "tiny-random",
                            "--device", "cuda"], "CUDA was asked for")
    read_only(monkeypatch, tmp_path / "ro")
    one_line_error(capsys, ["invert", str(photo), "--out", str(tmp_path / "ro" / "x"), *TINY],
                   "Read-only file system")


# ------------------------------------------------------------------------------------------------ merge
def test_merge_missing_or_wrong_folders(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(capsys, ["merge", str(tmp_path / "typo_dir")], "no such dataset folder", "give the folder")
    assert not (tmp_path / "typo_dir").exists()  # no empty dataset made from a typo
    one_line_error(capsys, ["merge", str(tmp_path / "all"), str(dataset), str(tmp_path / "part9")],
                   "no such dataset folder", "part9")
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, ["merge", str(tmp_path / "empty")], "is not a dataset folder")
    one_line_error(capsys, ["merge", str(tmp_path / "all"), str(tmp_path / "empty")], "not a dataset folder")
    one_line_error(capsys, ["merge"], "the following arguments are required: out")


def test_merge_folders_made_with_other_settings(tmp_path: Path, dataset: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    shutil.copytree(dataset, other)
    meta = json.loads((other / "meta.json").read_text())
    meta["settings"]["truncation_psi"] = 0.5
    (other / "meta.json").write_text(json.dumps(meta))
    one_line_error(capsys, ["merge", str(tmp_path / "all"), str(dataset), str(other)],
                   "holds samples made with other settings", "truncation_psi")


def test_merge_missing_shards(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sharded"
    shutil.copytree(dataset, out)
    (out / "manifest.jsonl").rename(out / shard_manifest_name(0, 2))
    one_line_error(capsys, ["merge", str(out)], "shard(s) 1/2", shard_manifest_name(1, 2), "--allow-partial")


@pytest.mark.parametrize(("code", "expected"), [(errno.ENOSPC, "No space left on device"),
                                                (errno.EROFS, "Read-only file system")])
def test_merge_full_disk_and_read_only_folder(tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], code: int, expected: str) -> None:
    fail_with(monkeypatch, merge_module, "link_or_copy", code)
    one_line_error(capsys, ["merge", str(tmp_path / "all"), str(dataset)], expected, "choose another --out")
    read_only(monkeypatch, tmp_path / "ro")
    one_line_error(capsys, ["merge", str(tmp_path / "ro" / "all"), str(dataset)], "Read-only file system")


def test_merge_while_another_process_writes(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "set"
    shutil.copytree(dataset, out)
    with folder_lock(out, "generate"):
        one_line_error(capsys, ["merge", str(out)], "is being written by generate")
    (out / "manifest.jsonl").rename(out / shard_manifest_name(0, 1))
    with gen.write_lock(out, (0, 1)):
        one_line_error(capsys, ["merge", str(out)], "is being written by generate shard 0/1")
    assert cli.main(["merge", str(out)]) == 0  # once the shard has finished


# ------------------------------------------------------------------------------------------------ reconstruct
@pytest.mark.parametrize(("flags", "expected"), [
    (["--frames", "-1"], "--frames must be at least 0"),
    (["--face", "biggest"], "face"),
    (["--resolution", "0"], "resolution"),
    (["--method", "magic"], "argument --method: invalid choice"),
])
def test_reconstruct_refuses_bad_flag_values(tmp_path: Path, photo: Path, capsys: pytest.CaptureFixture[str],
                                             flags: list[str], expected: str) -> None:
    one_line_error(capsys, ["reconstruct", str(photo), "--out", str(tmp_path / "x"), *flags], expected)
    assert not (tmp_path / "x").exists()


def test_reconstruct_missing_photo_unknown_model_and_no_gpu(tmp_path: Path, photo: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = ["--out", str(tmp_path / "x")]
    one_line_error(capsys, ["reconstruct", str(tmp_path / "nope.jpg"), *out], "no such photo or folder")
    one_line_error(capsys, ["reconstruct", str(photo), *out, "--method", "pti", "--generator", "tiny-randm",
                            "--device", "cpu"], "could not load", "did you mean 'tiny-random'?")
    no_gpu(monkeypatch)
    one_line_error(capsys, ["reconstruct", str(photo), *out, "--device", "cuda"], "CUDA was asked for")


@pytest.mark.parametrize(("code", "expected"), [(errno.ENOSPC, "No space left on device"),
                                                (errno.EROFS, "Read-only file system")])
def test_reconstruct_full_disk_and_read_only_folder(tmp_path: Path, photo: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], code: int,
                                                    expected: str) -> None:
    monkeypatch.setattr(reconstruct_command.PhotoReconstructor, "load", lambda self: self)
    fail_with(monkeypatch, reconstruct_command.PhotoReconstructor, "reconstruct", code)  # as the photo's files would
    out = tmp_path / "x"
    one_line_error(capsys, ["reconstruct", str(photo), str(photo), "--out", str(out), "--device", "cpu"], expected)
    assert not (out / folder_inversion.FAILURES).exists()  # the disk's error, not the photo's


# ------------------------------------------------------------------------------------------------ train-depth
TRAIN = [*TINY_UNET_FLAGS, "--batch-size", "2", "--epochs", "1"]


@pytest.mark.parametrize(("flags", "expected"), [
    (["--batch-size", "0"], "batch_size"),
    (["--model", "attention_unt"], "unknown depth model 'attention_unt'"),
    (["--lr", "-1"], "lr must be > 0"),
])
def test_train_depth_refuses_bad_flag_values(tmp_path: Path, small_heads: Path, capsys: pytest.CaptureFixture[str],
                                             flags: list[str], expected: str) -> None:
    one_line_error(capsys, ["train-depth", str(small_heads), "--out", str(tmp_path / "run"), *TRAIN, *flags], expected)


def test_train_depth_missing_data_and_no_gpu(tmp_path: Path, small_heads: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(capsys, ["train-depth", str(tmp_path / "nodata"), "--out", str(tmp_path / "run"), *TRAIN],
                   "nodata")
    no_gpu(monkeypatch)
    one_line_error(capsys, ["train-depth", str(small_heads), "--out", str(tmp_path / "run"), *TRAIN, "--device", "cuda"],
                   "CUDA was asked for")


def test_train_depth_resume_with_other_settings(tmp_path: Path, small_heads: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train-depth", str(small_heads), "--out", str(tmp_path / "run"), *TRAIN, "--max-steps", "1"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    one_line_error(capsys, [*argv, "--lr", "0.01"], "another config", "0.01")


def test_train_depth_read_only_and_busy_folder(tmp_path: Path, small_heads: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with folder_lock(tmp_path / "busy", "train-depth"):
        one_line_error(capsys, ["train-depth", str(small_heads), "--out", str(tmp_path / "busy"), *TRAIN],
                       "is being written by train-depth")
    read_only(monkeypatch, tmp_path / "ro")
    one_line_error(capsys, ["train-depth", str(small_heads), "--out", str(tmp_path / "ro" / "run"), *TRAIN],
                   "Read-only file system")


# ------------------------------------------------------------------------------------------------ train-latent
def test_train_latent_missing_data_and_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train-latent", str(tmp_path / "nodata"), "--out", str(tmp_path / "run"), "--generator", "tiny-random",
            "--no-progress"]
    one_line_error(capsys, argv, "nodata")
    one_line_error(capsys, [*argv, "--batch-size", "0"], "batch_size")
    no_gpu(monkeypatch)
    one_line_error(capsys, [*argv, "--device", "cuda"], "CUDA was asked for")


# ------------------------------------------------------------------------------------------------ datasets
def test_datasets_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(capsys, ["datasets", "info", "lpf"], "unknown dataset 'lpf'", "datasets list")
    one_line_error(capsys, ["datasets"], "no action given")
    one_line_error(capsys, ["datasets", "convert", "prosopo", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                   "nope")
    one_line_error(capsys, ["datasets", "convert", "prosopo", str(tmp_path), "--out", str(tmp_path / "o"), "--set",
                            "novalue"], "--set expects KEY=VALUE")
    one_line_error(capsys, ["datasets", "download", "ffhq-eg3d-labels", "--out", str(tmp_path / "l"),
                            "--no-progress"], "licence", "--accept-licence")
    one_line_error(capsys, ["datasets", "download"], "the following arguments are required: name")


# ------------------------------------------------------------------------------------------------ demo
@pytest.mark.parametrize(("flags", "expected"), [
    (["--views", "0"], "--views must be at least 1"),
    (["--trunc", "5"], "--trunc must be in [0, 1]"),
    (["--photo", "nope.jpg"], "no such photo: nope.jpg"),
    (["--checkpoint", "tiny-randm"], "did you mean 'tiny-random'?"),
])
def test_demo_refuses_bad_values(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
                                 expected: str) -> None:
    one_line_error(capsys, ["demo", "--out", str(tmp_path / "demo"), "--photo", "", "--no-screenshot", *flags],
                   expected)


def test_demo_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    read_only(monkeypatch, tmp_path / "ro")
    one_line_error(capsys, ["demo", "--out", str(tmp_path / "ro" / "demo"), "--photo", "", "--no-screenshot"],
                   "Read-only file system")
