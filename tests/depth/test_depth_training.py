"""Training loop: learning, checkpoints and resume (in-process and after SIGKILL), configs, schedules, CLI."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.cli import main as cli_main
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.depth.depth_training import DepthTask, TrainConfig, train_depth
from helpers.depth.models import DepthModelConfig, load_depth_model
from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset
from helpers.training.seeded_loader import SeededSampler
from helpers.training.training_config import OptimConfig, lr_factor
from helpers.training.training_loop import run_training
from tests.depth.conftest import SPLITS, TINY_UNET, quiet, small_config, weights

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def heads(tmp_path_factory) -> Path:
    """48 analytic heads at 64² with exact metric depth (our folder format)."""
    root = tmp_path_factory.mktemp("heads") / "data"
    return write_head_dataset(root, HeadDatasetConfig(count=48, image_size=64, depth_size=64, seed=1), progress=False)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------------------------ learning
def test_training_beats_the_mean_depth_baseline_by_30_percent(heads, tmp_path):
    """A few hundred CPU steps cut the held-out masked depth error far below predicting the mean depth."""
    model = DepthModelConfig(target="metric_z", start_filts=8, n_blocks=4, input_size=64)
    config = TrainConfig(data=(str(heads),), out=str(tmp_path / "run"), model=model, depth_size=64, epochs=1000,
                         max_steps=180, batch_size=6, workers=0, splits=SPLITS, progress=False, checkpoint_every=0,
                         eval_every=10, select_metric="mae", optim=OptimConfig(lr=2e-3))
    result = train_depth(config, log=quiet)
    assert result.steps == 180

    data = DepthDatasetConfig(image_size=64, depth_size=64, splits=SPLITS)
    train = DepthDataset(heads, DepthDatasetConfig(**{**data.__dict__, "split": "train"}))
    val = DepthDataset(heads, DepthDatasetConfig(**{**data.__dict__, "split": "val"}))
    assert len(val) >= 6 and not set(train.ids) & set(val.ids)
    mean_depth = torch.cat([train[i]["depth"][train[i]["mask"]] for i in range(len(train))]).mean()
    per_image = [float((val[i]["depth"][val[i]["mask"]] - mean_depth).abs().mean()) for i in range(len(val))]
    baseline = sum(per_image) / len(per_image)  # image-weighted, like MetricsTable's mean of per-image MAE
    assert result.best_value <= 0.7 * baseline, (result.best_value, baseline)

    # best.pt reloads as a metric model whose predictions score the same.
    loaded = load_depth_model(result.best_checkpoint)
    assert loaded.config == model
    table = csv_rows(tmp_path / "run" / "val_best.csv")
    assert len(table) == len(val)
    assert math.isclose(sum(float(r["mae"]) for r in table) / len(table), result.best_value, rel_tol=1e-6)


# ------------------------------------------------------------------------------------------------ resume
def test_interrupted_run_resumes_to_the_same_weights(small_heads, tmp_path):
    full = train_depth(small_config(small_heads, tmp_path / "full"), log=quiet)
    assert full.steps == 9 and full.epochs_done == 3  # 9 train images / batch 3 = 3 steps per epoch

    def stop_at_5(step: int, _loss: float) -> None:
        if step == 5:
            raise KeyboardInterrupt

    part = train_depth(small_config(small_heads, tmp_path / "part"), log=quiet, on_step=stop_at_5)
    assert part.interrupted and part.steps == 5
    saved = torch.load(tmp_path / "part" / "last.pt", weights_only=True)["progress"]
    assert saved["step"] == 4 and saved["epoch"] == 1 and saved["batches_in_epoch"] == 1  # mid-epoch checkpoint

    resumed = train_depth(small_config(small_heads, tmp_path / "part"), log=quiet)
    assert resumed.steps == full.steps and not resumed.interrupted
    a, b = weights(tmp_path / "full" / "last.pt"), weights(tmp_path / "part" / "last.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # Logs: one row per step / evaluation, as the uninterrupted run.
    for name in ("epochs.csv",):
        assert [r["step"] for r in csv_rows(tmp_path / "full" / name)] == \
            [r["step"] for r in csv_rows(tmp_path / "part" / name)]

    # Running a finished run again does nothing more.
    again = train_depth(small_config(small_heads, tmp_path / "part"), log=quiet)
    assert again.steps == full.steps


def test_resume_refuses_another_config_but_accepts_more_epochs(small_heads, tmp_path):
    train_depth(small_config(small_heads, tmp_path, epochs=1), log=quiet)
    with pytest.raises(ValueError, match=r"another config(.|\n)*optim"):
        train_depth(small_config(small_heads, tmp_path, epochs=1, optim=OptimConfig(lr=1e-2)), log=quiet)
    more = train_depth(small_config(small_heads, tmp_path, epochs=2), log=quiet)
    assert more.steps == 6 and more.epochs_done == 2


# ------------------------------------------------------------------------------------------------ models, data
def test_transformer_and_original_layout_training(tmp_path):
    prosopo = write_head_dataset(tmp_path / "prosopo", HeadDatasetConfig(count=10, image_size=64, depth_size=32,
                                                                          layout="prosopo"), progress=False)
    model = DepthModelConfig(name="tiny-random-dpt", target="original", input_size=64)
    torch.manual_seed(0)
    result = train_depth(small_config(prosopo, tmp_path / "run", model=model, epochs=1, batch_size=2), log=quiet)
    assert result.steps >= 1 and math.isfinite(result.best_value)
    header = csv_rows(tmp_path / "run" / "val_best.csv")[0]
    assert "original_l1" in header and "abs_rel" not in header  # no metric depth in the original layouts
    assert load_depth_model(result.best_checkpoint).config == model

    with pytest.raises(ValueError, match="needs metric depth"):
        train_depth(small_config(prosopo, tmp_path / "bad", model=DepthModelConfig(**{**TINY_UNET.__dict__,
                                                                                         "target": "metric_z"})),
                    log=quiet)


def test_a_non_finite_loss_stops_the_run_before_it_is_saved(small_heads, tmp_path):
    """The loss turns NaN at step 3: the run stops with an error naming the step, and ``last.pt`` still holds the
    step-2 checkpoint (the bad step's weights are never written)."""

    class NanAtStep3(DepthTask):
        calls = 0

        def loss(self, net, batch, device):
            NanAtStep3.calls += 1
            loss = super().loss(net, batch, device)
            return loss * float("nan") if NanAtStep3.calls == 3 else loss

    config = small_config(small_heads, tmp_path / "run")
    with pytest.raises(FloatingPointError, match="at step 3"):
        run_training(NanAtStep3(config, progress=False), config, config.as_dict(), log=quiet)
    state = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    assert state["progress"]["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"]["state_dict"].values() if v.is_floating_point())


def test_config_validation(tmp_path):
    with pytest.raises(ValueError, match="select_metric"):
        TrainConfig(data=("x",), out=str(tmp_path), select_metric="accuracy")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(data=("x",), out=str(tmp_path), precision="fp8")
    with pytest.raises(ValueError, match="at least one"):
        TrainConfig(data=(), out=str(tmp_path))
    with pytest.raises(ValueError, match="unknown depth model"):
        DepthModelConfig(name="resnet")
    with pytest.raises(ValueError, match="relative-inverse"):
        DepthModelConfig(target="relative_inverse")


def test_learning_rate_schedules():
    cosine = OptimConfig(warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, 100, cosine) == pytest.approx(0.1)
    assert lr_factor(9, 100, cosine) == pytest.approx(1.0)
    assert lr_factor(10, 100, cosine) == pytest.approx(1.0)
    assert lr_factor(99, 100, cosine) == pytest.approx(0.1)
    assert 0.1 < lr_factor(55, 100, cosine) < 1.0
    assert lr_factor(50, 100, OptimConfig(schedule="constant")) == 1.0


def test_seeded_sampler_shards_and_skips():
    ranks = [list(SeededSampler(10, shuffle=True, seed=3, rank=r, world_size=3)) for r in range(3)]
    assert all(len(r) == 4 for r in ranks)  # padded to equal shares
    indices = {i for r in ranks for i, _ in r}
    assert indices == set(range(10))
    single = list(SeededSampler(10, shuffle=True, seed=3))
    assert {p for r in ranks for p in r} == set(single)  # same (index, seed) pairs as one process
    sampler = SeededSampler(10, shuffle=True, seed=3)
    sampler.set_epoch(0, start=4)
    assert list(sampler) == single[4:]
    assert len(list(sampler)) == 10  # the skip applies to one pass only


def test_cli_trains_and_writes_logs(small_heads, tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli_main(["train-depth", str(small_heads), "--out", str(out), "--start-filts", "4", "--n-blocks", "3",
                     "--input-size", "32", "--depth-size", "32", "--batch-size", "3", "--epochs", "2", "--workers",
                     "0", "--no-progress", "--loss", "l1", "--target", "metric_z", "--schedule", "plateau"])
    assert code == 0
    assert "done: 6 steps" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {"config.json", "last.pt", "best.pt", "train_log.csv", "epochs.csv",
                                               "val_best.csv", "val_best.md", "val_last.csv"}
    rows = csv_rows(out / "epochs.csv")
    assert [int(r["step"]) for r in rows] == [3, 6]
    assert all(math.isfinite(float(r["abs_rel"])) for r in rows)
    report = (out / "val_best.md").read_text()  # the val samples have cameras: a table per head-yaw bin
    assert "### By head yaw" in report and "1 of 1 samples have a head yaw." in report and "| frontal (within ±20°) |" in report


def test_torchrun_two_processes_on_the_cpu(small_heads, tmp_path):
    """DDP through torchrun (gloo on the CPU): each rank takes its share, rank 0 evaluates and writes."""
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "helpers",
               "train-depth", str(small_heads), "--out", str(out), "--start-filts", "4", "--n-blocks", "3",
               "--input-size", "32", "--depth-size", "32", "--batch-size", "2", "--epochs", "2", "--workers", "0",
               "--no-progress"]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "batch 2x2" in done.stdout and done.stdout.count("done:") == 1  # one log, from rank 0
    train_images = len(DepthDataset(small_heads, DepthDatasetConfig(image_size=32, depth_size=32, split="train")))
    steps_per_epoch = -(-train_images // 2) // 2  # each rank: half the images (rounded up), full batches of 2
    assert [int(r["step"]) for r in csv_rows(out / "epochs.csv")] == [steps_per_epoch, 2 * steps_per_epoch]
