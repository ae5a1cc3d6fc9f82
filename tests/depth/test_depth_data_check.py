"""Bad samples in depth training (issue 19, item 4) and one run per run folder (item 6): the check before the first
step names every bad sample and its file, ``skip_bad`` trains without them and a resume keeps that choice, a read
error at training time names the sample and the file, and a second run into a busy run folder is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from helpers.base.errors import UserError
from helpers.base.folder_lock import folder_lock
from helpers.cli import main as cli_main
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.depth.depth_training import DepthTask, TrainConfig, train_depth
from helpers.depth.models import DepthModelConfig
from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset
from helpers.training.seeded_loader import make_loader
from tests.depth.conftest import SPLITS, TINY_UNET, quiet, small_config, weights


def config(data: Path, out: Path, **changes: object) -> TrainConfig:
    """:func:`tests.depth.conftest.small_config` with a checkpoint every step."""
    return small_config(data, out, **{"checkpoint_every": 1, **changes})


@pytest.fixture
def data(small_heads: Path, tmp_path: Path) -> Path:
    """A copy of the heads that a test may damage."""
    return Path(shutil.copytree(small_heads, tmp_path / "data"))


def split_ids(data: Path, split: str) -> list[str]:
    return DepthDataset(data, DepthDatasetConfig(image_size=32, depth_size=32, split=split, splits=SPLITS)).ids


def truncate(path: Path) -> bytes:
    """Cut a file to half its size; returns what it held."""
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return content


def stop_at(step: int):
    def on_step(current: int, _loss: float) -> None:
        if current == step:
            raise KeyboardInterrupt
    return on_step


# ------------------------------------------------------------------------------------------------ before the first step
def test_bad_samples_stop_the_run_before_the_first_step_all_named_with_their_files(data, tmp_path):
    """A truncated image, a missing depth PNG (train split) and a truncated depth PNG (val split): one error before
    any step names the three samples and their files; the run folder lists them; no checkpoint is written."""
    train, val = split_ids(data, "train"), split_ids(data, "val")
    image, depth, val_depth = (data / "images" / f"{train[1]}.png", data / "depth" / f"{train[4]}.png",
                               data / "depth" / f"{val[0]}.png")
    truncate(image)
    depth.unlink()
    truncate(val_depth)
    out = tmp_path / "run"
    with pytest.raises(UserError) as caught:
        train_depth(config(data, out), log=quiet)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("3 of 12 samples cannot be read")
    for sample, file in ((train[1], image), (train[4], depth), (val[0], val_depth)):
        assert f"{sample} ({file}: " in message
    assert f"{depth}: missing" in message and "--skip-bad" in message and str(out / "bad_samples.txt") in message
    listed = [line.split("\t") for line in (out / "bad_samples.txt").read_text().splitlines()[1:]]
    assert sorted((row[1], row[2]) for row in listed) == sorted(
        [(train[1], str(image)), (train[4], str(depth)), (val[0], str(val_depth))])
    assert not (out / "last.pt").exists()


def test_a_missing_depth_file_in_an_original_layout_is_a_bad_sample(tmp_path):
    prosopo = write_head_dataset(tmp_path / "prosopo", HeadDatasetConfig(count=8, image_size=32, depth_size=32,
                                                                          layout="prosopo"), progress=False)
    lost = sorted((prosopo / "depth128x128").iterdir())[0]
    lost.unlink()
    model = DepthModelConfig(**{**TINY_UNET.__dict__, "target": "original"})
    with pytest.raises(UserError, match=rf"{lost.stem} \({lost}: missing\).*--skip-bad"):
        train_depth(config(prosopo, tmp_path / "run", model=model, epochs=1, batch_size=2), log=quiet)
    result = train_depth(config(prosopo, tmp_path / "run", model=model, epochs=1, batch_size=2, skip_bad=True),
                         log=quiet)
    assert result.steps >= 1
    assert lost.stem in (tmp_path / "run" / "bad_samples.txt").read_text()


# ------------------------------------------------------------------------------------------------ skip and resume
def test_skip_bad_trains_without_them_and_a_resume_keeps_the_choice(data, tmp_path):
    """``skip_bad``: the run leaves the truncated sample out and records it. Interrupted, its file restored and resumed,
    the run still leaves it out (the same data order) and ends with the weights of an uninterrupted run."""
    bad = split_ids(data, "train")[2]
    image = data / "images" / f"{bad}.png"
    content = truncate(image)
    logged: list[str] = []
    full = train_depth(config(data, tmp_path / "full", skip_bad=True, epochs=2), log=logged.append)
    assert full.steps == 4  # 8 readable train samples, batch 3: 2 steps per epoch
    assert any("leaving out 1 of 12 samples" in line and bad in line for line in logged)
    assert json.loads((tmp_path / "full" / "config.json").read_text())["excluded_samples"] == [[str(data), bad]]
    assert (tmp_path / "full" / "bad_samples.txt").read_text().splitlines()[1].split("\t")[:3] == \
        [str(data), bad, str(image)]

    part = train_depth(config(data, tmp_path / "part", skip_bad=True, epochs=2), log=quiet, on_step=stop_at(3))
    assert part.interrupted
    image.write_bytes(content)  # readable again: the resumed run must still leave it out
    logged.clear()
    resumed = train_depth(config(data, tmp_path / "part", skip_bad=True, epochs=2), log=logged.append)
    assert resumed.steps == full.steps and not resumed.interrupted
    assert any("left out when it started" in line for line in logged)
    a, b = weights(tmp_path / "full" / "last.pt"), weights(tmp_path / "part" / "last.pt")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_sample_that_goes_bad_before_a_resume_is_named(data, tmp_path):
    out = tmp_path / "run"
    assert train_depth(config(data, out), log=quiet, on_step=stop_at(2)).interrupted
    bad = split_ids(data, "train")[0]
    truncate(data / "images" / f"{bad}.png")
    with pytest.raises(UserError, match=rf"1 samples became unreadable since this run started: {bad} .*--skip-bad"):
        train_depth(config(data, out), log=quiet)
    logged: list[str] = []
    resumed = train_depth(config(data, out, skip_bad=True), log=logged.append)
    assert resumed.steps == 6 and any("data order differs" in line for line in logged)


def test_the_cli_takes_skip_bad(data, tmp_path):
    truncate(data / "images" / f"{split_ids(data, 'train')[0]}.png")
    out = tmp_path / "cli"
    code = cli_main(["train-depth", str(data), "--out", str(out), "--start-filts", "4", "--n-blocks", "3",
                     "--input-size", "32", "--depth-size", "32", "--batch-size", "4", "--epochs", "1", "--workers",
                     "0", "--no-progress", "--skip-bad"])
    assert code == 0 and (out / "bad_samples.txt").is_file()
    assert json.loads((out / "config.json").read_text())["skip_bad"] is True


def test_the_check_reads_only_changed_files_again(data, tmp_path):
    """The results are kept in the run folder by file size and mtime: a second start reads nothing, a changed file
    is read again (and found bad)."""
    out = tmp_path / "run"
    logged: list[str] = []
    DepthTask(config(data, out), progress=False, log=logged.append)
    assert [line for line in logged if "data check: read 24 files of 12 samples" in line]  # 12 images, 12 depths
    logged.clear()
    DepthTask(config(data, out), progress=False, log=logged.append)
    assert not [line for line in logged if "data check" in line]
    truncate(data / "depth" / f"{split_ids(data, 'val')[0]}.png")
    with pytest.raises(UserError, match="1 of 12 samples"):
        DepthTask(config(data, out), progress=False, log=logged.append)
    assert [line for line in logged if "data check: read 1 files" in line]


# ------------------------------------------------------------------------------------------------ at read time
def test_read_errors_name_the_sample_and_the_file(data):
    """A file that goes bad after the check: the item's error names the sample and the file, also from a loader
    worker, in one line."""
    dataset = DepthDataset(data, DepthDatasetConfig(image_size=32, depth_size=32, split="train", splits=SPLITS))
    image = data / "images" / f"{dataset.ids[0]}.png"
    truncate(image)
    with pytest.raises(OSError) as caught:
        dataset[0]
    assert isinstance(caught.value, UserError)
    assert f"sample {dataset.ids[0]}: cannot read {image} (" in str(caught.value)
    depth = data / "depth" / f"{dataset.ids[1]}.png"
    depth.unlink()
    with pytest.raises(UserError, match=rf"sample {dataset.ids[1]}: cannot read {depth} \(missing\)"):
        dataset[1]

    loader = make_loader(dataset, 2, shuffle=False, workers=1)
    with pytest.raises(UserError) as caught:
        next(iter(loader))
    assert str(caught.value).startswith(f"sample {dataset.ids[0]}: cannot read {image} (")
    assert "\n" not in str(caught.value) and "Traceback" in caught.value.worker_traceback


# ------------------------------------------------------------------------------------------------ one run per folder
def test_a_second_run_into_a_busy_run_folder_is_refused(data, tmp_path):
    out = tmp_path / "run"
    with folder_lock(out, "another train-depth"), \
            pytest.raises(UserError, match=r"being written by another train-depth \(pid .*another folder"):
        train_depth(config(data, out), log=quiet)
    assert not (out / "config.json").exists() and not (out / "data_check.json").exists()
    assert train_depth(config(data, out, epochs=1), log=quiet).steps == 3  # free again
