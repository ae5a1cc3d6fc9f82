"""The data check of ``helpers.training.sample_check`` on files of every kind it reads, its cache, read errors
from loader workers, and the run folder's lock in the shared loop."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.base.folder_lock import FolderBusyError, folder_lock
from helpers.training import LoopConfig, OptimConfig, make_loader, run_training
from helpers.training.sample_check import SampleReadError, check_file, check_files, reading
from tests.training.test_training_loop import ScriptedTask


def _image(path: Path, size: int = 64) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def test_every_truncation_of_a_png_is_found_and_a_whole_file_passes(tmp_path):
    """PIL's ``verify`` checks every chunk and CRC: any cut before the final IEND chunk is found (the 12 bytes of
    IEND hold no image data: a cut there still decodes)."""
    whole = _image(tmp_path / "a.png")
    content = whole.read_bytes()
    assert check_file(whole) is None
    cut = tmp_path / "cut.png"
    missed = []
    for size in range(0, len(content) - 12, 7):
        cut.write_bytes(content[:size])
        if check_file(cut) is None:
            missed.append(size)
    assert missed == []


def test_jpeg_npy_and_other_faults(tmp_path):
    jpeg = _image(tmp_path / "a.jpg")
    assert check_file(jpeg) is None
    content = jpeg.read_bytes()
    for size in (len(content) // 3, len(content) - 50):
        jpeg.write_bytes(content[:size])
        assert "truncated" in check_file(jpeg)
    jpeg.write_bytes(content[:-2])  # only the end marker lost: every pixel decodes, as training would read it
    assert check_file(jpeg) is None

    npy = tmp_path / "w.npy"
    np.save(npy, np.ones((14, 512), np.float32))
    assert check_file(npy) is None
    npy.write_bytes(npy.read_bytes()[:1000])
    assert check_file(npy) == f"truncated: 1,000 of {128 + 14 * 512 * 4:,} bytes"
    np.save(npy, np.array([{"w": 1}], dtype=object), allow_pickle=True)
    assert "Python objects" in check_file(npy)

    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    assert check_file(tmp_path / "empty.png") == "empty (0 bytes)"
    assert check_file(tmp_path / "text.png") == "not an image PIL can read"
    assert check_file(tmp_path / "absent.png") == "missing"


def test_the_cache_reads_only_files_whose_size_or_mtime_changed(tmp_path):
    paths = [str(_image(tmp_path / f"{i}.png", 16)) for i in range(5)]
    cache = tmp_path / "data_check.json"
    assert check_files(paths, cache) == ({}, 5)
    assert check_files(paths, cache) == ({}, 0)
    os.utime(paths[2], ns=(1, 1))  # same bytes, another mtime: read again
    Path(paths[3]).write_bytes(Path(paths[3]).read_bytes()[:-20])
    problems, read = check_files(paths, cache)
    assert read == 2 and list(problems) == [paths[3]]
    assert check_files(paths, cache) == (problems, 0)  # a bad result is kept too


class _Broken(torch.utils.data.Dataset):
    """Items read a file that is not an image."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __len__(self) -> int:
        return 4

    def __getitem__(self, key):
        with reading(f"sample{key}", self.path), Image.open(self.path) as image:
            return image.size


def test_a_read_error_from_a_loader_worker_keeps_its_one_line(tmp_path):
    path = tmp_path / "x.png"
    path.write_text("garbage")
    with pytest.raises(SampleReadError) as caught:
        next(iter(make_loader(_Broken(path), 2, shuffle=False, workers=1)))
    error = caught.value
    assert str(error) == (f"sample sample0: cannot read {path} (cannot identify image file) — replace the file, or "
                          "leave the sample out (train-depth and train-latent: --skip-bad)")
    assert "DataLoader worker" in error.worker_traceback and isinstance(error, OSError)


def test_the_loop_refuses_a_second_run_into_a_busy_folder(tmp_path):
    loop = LoopConfig(out=tmp_path / "run", epochs=1, batch_size=4, optim=OptimConfig(lr=1e-3), device="cpu",
                      workers=0, progress=False)
    with folder_lock(tmp_path / "run", "someone else"), pytest.raises(FolderBusyError, match="someone else"):
        run_training(ScriptedTask([0.5], "min"), loop, {}, log=lambda _: None)
    assert run_training(ScriptedTask([0.5], "min"), loop, {}, log=lambda _: None).steps == 2
