"""The shared training loop on a task of its own: it knows nothing of depth, the task says which metric picks
``best.pt`` and in which direction; the loader serves any map-style dataset."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers.training import LoopConfig, OptimConfig, make_loader, run_training


class _Table:
    """The smallest evaluation table: one metric's mean, written as the loop asks."""

    def __init__(self, score: float) -> None:
        self.score = score

    def mean(self) -> dict[str, float]:
        return {"score": self.score}

    def write_csv(self, path: str | Path) -> Path:
        Path(path).write_text(f"id,score\nall,{self.score}\n")
        return Path(path)

    def write_markdown(self, path: str | Path, title: str | None = None) -> Path:
        Path(path).write_text(f"{title}: score {self.score}\n")
        return Path(path)


class _Items(torch.utils.data.Dataset):
    """Eight dict items; indexable with ``(index, item_seed)`` as the loop's sampler yields them."""

    takes_item_seeds = True

    def __len__(self) -> int:
        return 8

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index = key[0] if isinstance(key, tuple) else key
        return {"x": torch.tensor([float(index)]), "id": str(index)}


class ScriptedTask:
    """A linear model whose evaluations return a scripted score per epoch."""

    select_metric = "score"
    epoch_metrics = ("score",)

    def __init__(self, scores: list[float], mode: str) -> None:
        self.train_set = self.val_set = _Items()
        self.scores, self.select_mode, self.evaluations = scores, mode, 0

    def build_model(self) -> nn.Module:
        return nn.Linear(1, 1)

    def describe(self) -> str:
        return "scripted task"

    def loss(self, net: nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        return (net(batch["x"].to(device)) ** 2).mean()

    def evaluate(self, model: nn.Module, **_: object) -> tuple[_Table, float]:
        score = self.scores[self.evaluations]
        self.evaluations += 1
        return _Table(score), 0.0

    def model_checkpoint(self, model: nn.Module) -> dict:
        return {"state_dict": model.state_dict(), "evaluation": self.evaluations}


@pytest.mark.parametrize(("mode", "best_epoch"), [("min", 1), ("max", 2)])
def test_the_task_says_which_direction_is_better(tmp_path: Path, mode: str, best_epoch: int) -> None:
    task = ScriptedTask([0.5, 0.2, 0.9], mode)
    loop = LoopConfig(out=tmp_path / mode, epochs=3, batch_size=4, optim=OptimConfig(lr=1e-3), device="cpu",
                      workers=0, progress=False)
    result = run_training(task, loop, {"mode": mode}, log=lambda _: None)
    assert result.best_metric == "score" and result.best_value == task.scores[best_epoch]
    assert torch.load(result.best_checkpoint)["evaluation"] == best_epoch + 1  # saved right after that evaluation
    with open(tmp_path / mode / "epochs.csv", newline="") as f:
        assert [int(row["best"]) for row in csv.DictReader(f)] == [1, int(best_epoch == 1), int(best_epoch == 2)]


def test_loader_serves_any_map_style_dataset() -> None:
    loader = make_loader(torch.utils.data.TensorDataset(torch.arange(3)), 2, shuffle=False, workers=0)
    assert [batch[0].tolist() for batch in loader] == [[0, 1], [2]]


def test_a_checkpoint_that_a_killed_run_was_writing_is_removed(tmp_path: Path) -> None:
    """kill -9 during torch.save leaves atomic_path's temporary file; the next start in the folder removes it."""
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".last.0123456789ab.tmp.pt"
    stale.write_bytes(b"half a checkpoint")
    keep = out / "notes.tmp.txt"  # not one of atomic_path's names
    keep.write_text("mine")
    loop = LoopConfig(out=out, epochs=1, batch_size=4, optim=OptimConfig(lr=1e-3), device="cpu", workers=0,
                      progress=False)
    run_training(ScriptedTask([0.5], "min"), loop, {}, log=lambda _: None)
    assert not stale.exists() and keep.read_text() == "mine"
