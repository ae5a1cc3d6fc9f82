"""The training loop every model of the toolkit shares: depth regressors (:mod:`helpers.depth.depth_training`) and
latent-code encoders (:mod:`helpers.latent.latent_training`).

A :class:`TrainingTask` says *what* is learned (its datasets, network, loss and evaluation); :func:`run_training` does
the rest the same way for all of them:

- **Data**: the task's train set through :func:`helpers.training.seeded_loader.make_loader` (seeded order and per-item
  augmentation seeds, independent of the number of workers; pinned batches copied asynchronously).
- **Optimisation** (:class:`helpers.training.training_config.OptimConfig`): Adam / AdamW, learning-rate schedules,
  gradient clipping; mixed precision on GPUs (bf16 where supported, else fp16 with loss scaling), float32 on the CPU.
- **Evaluation** every ``eval_every`` epochs and after the last step, by the task; the best evaluation by the task's
  ``select_metric`` is saved as ``best.pt`` with its per-sample table (``val_best.csv`` / ``.md``).
- **Logs**: ``train_log.csv`` (step, epoch, loss, learning rate, samples/s) and ``epochs.csv`` (per evaluation).
- **Resume**: ``last.pt`` is written every ``checkpoint_every`` steps and at every epoch end, atomically; running again
  with the same output folder continues at the same batch, so an interrupted run ends with the weights of an
  uninterrupted one (bitwise on the CPU). A run with another config is refused, except for :data:`RESUMABLE_CHANGES`.
- **Several GPUs** under ``torchrun``: DistributedDataParallel, rank 0 evaluates and writes.
- **One run per folder** (:func:`run_folder_lock`): a second run into a folder whose run still lives is refused.

Design notes: docs/design/training.md (training_loop).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import nn
from torch.utils.data import Dataset

from helpers.base.atomic import remove_temporary_files, save_torch_atomic, write_text_atomic
from helpers.base.errors import UserError
from helpers.base.folder_lock import folder_lock
from helpers.base.runtime import autocast, distributed_environment, resolve_device, resolve_precision
from helpers.base.weights_file import read_weights
from helpers.training.seeded_loader import make_loader
from helpers.training.training_config import LoopConfig, build_optimizer, lr_factor

__all__ = ["CONFIG_FILE", "LAST_STATE", "RESUMABLE_CHANGES", "EvaluationTable", "RunConfigError", "TrainResult",
           "TrainingTask", "run_folder_lock", "run_training", "saved_run_config", "train_step"]

STATE_FORMAT = "helpers-train-state"
STATE_VERSION = 1

#: The run folder's full training state (resumed from) and its config.
LAST_STATE, CONFIG_FILE = "last.pt", "config.json"

#: Config fields that may change when a run is resumed (they do not change what is learned; ``skip_bad`` and
#: ``excluded_samples``: the data check of :mod:`helpers.training.sample_check` enforces its own rule on resume).
RESUMABLE_CHANGES = ("epochs", "max_steps", "workers", "cache", "progress", "device", "checkpoint_every",
                     "log_every", "eval_every", "val_batches", "skip_bad", "excluded_samples")

#: Run folders whose lock this process holds (resolved paths), so that :func:`run_folder_lock` nests.
_HELD_RUN_FOLDERS: set[str] = set()


class EvaluationTable(Protocol):
    """What a task's evaluation returns: per-sample metric rows with their means (e.g.
    :class:`helpers.depth.metrics.metrics_table.MetricsTable`)."""

    def mean(self) -> dict[str, float]:
        """Mean of each metric over the scored samples."""

    def write_csv(self, path: str | Path) -> Path:
        """The per-sample rows as CSV, written atomically."""

    def write_markdown(self, path: str | Path, title: str | None = None) -> Path:
        """The means as a Markdown table, written atomically."""


class TrainingTask(Protocol):
    """What :func:`run_training` needs to know about a model and its data.

    Attributes:
        train_set, val_set: datasets whose items are dicts of tensors plus an ``id`` list entry; indexable with
            ``(index, item_seed)`` (``takes_item_seeds = True``) for reproducible augmentation.
        select_metric: key of the evaluation table that picks ``best.pt``.
        select_mode: ``"min"`` when a lower ``select_metric`` is better, ``"max"`` when a higher one is.
        epoch_metrics: table means copied into ``epochs.csv``.
    """

    train_set: Dataset
    val_set: Dataset
    select_metric: str
    select_mode: Literal["min", "max"]
    epoch_metrics: Sequence[str]

    def build_model(self) -> nn.Module:
        """A fresh network on the CPU (the loop seeds torch's RNG first)."""

    def describe(self) -> str:
        """One line for the log: model, data, loss."""

    def loss(self, net: nn.Module, batch: Mapping[str, Any], device: torch.device) -> torch.Tensor:
        """Scalar float32 training loss of a loader batch (runs under the loop's autocast)."""

    def evaluate(self, model: nn.Module, *, batch_size: int, workers: int, precision: str,
                 progress: bool) -> tuple[EvaluationTable, float]:
        """Per-sample table on ``val_set`` and the mean val loss."""

    def model_checkpoint(self, model: nn.Module) -> dict[str, Any]:
        """The model's self-describing checkpoint dict (stored in ``last.pt`` and ``best.pt``)."""


@dataclass(frozen=True)
class TrainResult:
    """What :func:`run_training` returns: the run folder, steps done, best evaluation and its table."""

    out: Path
    steps: int
    epochs_done: int
    best_metric: str
    best_value: float
    best_step: int
    best_table: EvaluationTable | None
    interrupted: bool = False

    @property
    def best_checkpoint(self) -> Path:
        return self.out / "best.pt"


def _set_lr(optimizer: torch.optim.Optimizer, factor: float, plateau_scale: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor * plateau_scale
    return float(optimizer.param_groups[-1]["lr"])


def _better(mode: str, value: float, best: float | None) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


# ------------------------------------------------------------------------------------------------ logs
class _CsvLog:
    """Append-only CSV with a fixed header; :meth:`truncate` drops rows a resumed run will redo."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path, self.columns = path, list(columns)

    def rows(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def truncate(self, keep: Callable[[dict[str, str]], bool]) -> None:
        rows = [row for row in self.rows() if keep(row)]
        lines = [",".join(self.columns)] + [",".join(row.get(c) or "" for c in self.columns) for row in rows]
        write_text_atomic(self.path, "\n".join(lines) + "\n")

    def append(self, row: dict[str, Any]) -> None:
        new = not self.path.is_file()
        with open(self.path, "a", newline="") as f:
            if new:
                f.write(",".join(self.columns) + "\n")
            f.write(",".join(_csv_value(row.get(c, "")) for c in self.columns) + "\n")


def _csv_value(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


# ------------------------------------------------------------------------------------------------ state
def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


@contextlib.contextmanager
def run_folder_lock(out: str | os.PathLike[str], job: str) -> Iterator[None]:
    """Hold the run folder's lock (:func:`helpers.base.folder_lock.folder_lock`) while the block runs.

    Re-entrant within a process (a task's setup and :func:`run_training` share one hold); under torchrun only
    rank 0 takes it (the other ranks write nothing). Raises
    :class:`helpers.base.folder_lock.FolderBusyError` when another process trains into ``out``."""
    key = str(Path(out).resolve())
    if distributed_environment()[0] != 0 or key in _HELD_RUN_FOLDERS:
        yield
        return
    with folder_lock(out, job):
        _HELD_RUN_FOLDERS.add(key)
        try:
            yield
        finally:
            _HELD_RUN_FOLDERS.discard(key)


def saved_run_config(out: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The config of the run that a start in ``out`` resumes (its ``config.json``), None for a fresh start (no
    ``last.pt``, or no readable config)."""
    folder = Path(out)
    if not (folder / LAST_STATE).is_file():
        return None
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


class RunConfigError(UserError, ValueError):
    """A run folder holds a run with other settings than the ones given (the differences are in the message)."""


def _config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in sorted(set(saved) | set(current))
            if key not in RESUMABLE_CHANGES and _jsonable(saved.get(key)) != _jsonable(current.get(key))]


@dataclass
class _Progress:
    """Where a run is: saved in ``last.pt`` and restored on resume."""

    step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    best_value: float | None = None
    best_step: int = -1
    plateau_scale: float = 1.0
    plateau_best: float | None = None
    plateau_bad: int = 0
    last_eval_step: int = -1


def _load_state(path: Path) -> dict[str, Any]:
    todo = "move it away to start the run afresh, or choose another --out"
    state = read_weights(path, what="the training state to resume from", expected="the last.pt of a training run")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise UserError(f"{path} is not a training state written by helpers.training.training_loop", todo)
    if state.get("version") != STATE_VERSION:
        raise UserError(f"{path}: training state version {state.get('version')!r} is not supported", todo)
    return state


def train_step(task: TrainingTask, net: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               batch: Mapping[str, Any], *, device: torch.device, precision: str,
               grad_clip: float | None) -> torch.Tensor:
    """One optimizer step of :func:`run_training` (also timed by ``benchmarks/depth_speed.py``): the task's loss
    under autocast, backward through the loss scaler, gradient clipping, step; returns the detached loss."""
    with autocast(device, precision):
        loss = task.loss(net, batch, device)
    # No finiteness check here: it would make the CPU wait for the GPU before queuing backward. The caller checks
    # the value it reads anyway (run_training stops on a non-finite loss before anything is saved).
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


# ------------------------------------------------------------------------------------------------ the loop
def run_training(task: TrainingTask, loop: LoopConfig, config: Mapping[str, Any], *,
                 log: Callable[[str], None] = print,
                 on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train (or resume) ``task`` as ``loop`` says; see the module docstring.

    Args:
        task: datasets, network, loss, evaluation.
        loop: output folder, epochs, optimizer, precision…
        config: the whole run's config as a JSON-able dict (``config.json``; a resumed run must match it except
            for :data:`RESUMABLE_CHANGES`).
        log: where progress lines go (rank 0 only).
        on_step: called after every optimizer step with ``(step, loss)`` (e.g. to stop early by raising
            ``KeyboardInterrupt``: the run keeps its last checkpoint and can be resumed).

    Returns:
        A :class:`TrainResult` (``interrupted`` when a ``KeyboardInterrupt`` stopped it; ``last.pt`` is then the
        last checkpoint written, not the interrupted step).

    Raises:
        FolderBusyError: another process is training into ``loop.out`` (:func:`run_folder_lock`).
    """
    with run_folder_lock(loop.out, f"training {task.describe()}"):
        return _run_training(task, loop, config, log=log, on_step=on_step)


def _run_training(task: TrainingTask, loop: LoopConfig, config: Mapping[str, Any], *, log: Callable[[str], None],
                  on_step: Callable[[int, float], None] | None) -> TrainResult:
    from tqdm.auto import tqdm

    rank, world, _ = distributed_environment()
    distributed = world > 1
    device = resolve_device(loop.device)
    if distributed and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    main = rank == 0
    say = log if main else (lambda _msg: None)
    precision = resolve_precision(loop.precision, device)
    out = Path(loop.out)
    out.mkdir(parents=True, exist_ok=True)
    if main:  # a checkpoint that a killed run was writing (this process holds the run folder's lock)
        remove_temporary_files([out])
    config = _jsonable(dict(config))
    train_set, val_set = task.train_set, task.val_set

    torch.manual_seed(loop.seed)
    model = task.build_model().to(device)
    optimizer = build_optimizer(model, loop.optim)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    progress = _Progress()

    last_path, best_path = out / LAST_STATE, out / "best.pt"
    train_log = _CsvLog(out / "train_log.csv", ["step", "epoch", "loss", "lr", "samples_per_s", "elapsed_s"])
    epoch_log = _CsvLog(out / "epochs.csv", ["epoch", "step", "train_loss", "val_loss", *task.epoch_metrics, "lr",
                                             "best"])
    if last_path.is_file():
        state = _load_state(last_path)
        differences = _config_differences(state["config"], config)
        if differences:
            shown = "; ".join(differences[:6]) + (f"; and {len(differences) - 6} more" if len(differences) > 6 else "")
            raise RunConfigError(f"{out} holds a run with another config ({shown})",
                                 "resume with the same settings, or train into another --out folder")
        model.load_state_dict(state["model"]["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        progress = _Progress(**state["progress"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        if main:  # rows logged after the checkpoint are redone
            train_log.truncate(lambda row: int(row["step"]) <= progress.step)
            epoch_log.truncate(lambda row: int(row["step"]) <= progress.last_eval_step)
        say(f"resuming {out} at step {progress.step} (epoch {progress.epoch + 1}, "
            f"batch {progress.batches_in_epoch})")
    elif main:
        for stale in (train_log.path, epoch_log.path):
            stale.unlink(missing_ok=True)
    if main:
        write_text_atomic(out / CONFIG_FILE, json.dumps(config, indent=2) + "\n")

    net: nn.Module = model
    if distributed:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    drop_last = len(train_set) >= loop.batch_size * world  # type: ignore[arg-type]
    loader = make_loader(train_set, loop.batch_size, shuffle=True, workers=loop.workers, seed=loop.seed,
                         drop_last=drop_last, rank=rank, world_size=world)
    sampler = loader.sampler
    steps_per_epoch = len(loader)
    total_steps = loop.epochs * steps_per_epoch
    if loop.max_steps is not None:
        total_steps = min(total_steps, loop.max_steps)
    has_val = len(val_set) > 0  # type: ignore[arg-type]
    if main:
        say(f"training {task.describe()}: {len(train_set)} train / {len(val_set)} val, "  # type: ignore[arg-type]
            f"{steps_per_epoch} steps/epoch, {total_steps} steps, batch {loop.batch_size}x{world}, "
            f"{precision} on {device}")
        if not has_val:
            say("warning: the val split is empty: no evaluation, best.pt follows the last epoch")

    best_table: EvaluationTable | None = None
    metric = task.select_metric

    def evaluate_and_select(epoch_label: int) -> None:
        nonlocal best_table
        train_loss = progress.epoch_loss_sum / max(1, progress.epoch_loss_count)
        row: dict[str, Any] = {"epoch": epoch_label, "step": progress.step, "train_loss": train_loss,
                               "lr": float(optimizer.param_groups[-1]["lr"])}
        value, val_loss, table = math.nan, math.nan, None
        if main and has_val:
            table, val_loss = task.evaluate(model, batch_size=loop.batch_size, workers=loop.workers,
                                            precision=precision, progress=loop.progress)
            table.write_csv(out / "val_last.csv")
            means = table.mean()
            value = float(means.get(metric, math.nan))
            row.update({key: float(means[key]) for key in task.epoch_metrics if key in means})
            row["val_loss"] = val_loss
        improved = _better(task.select_mode, value, progress.best_value) or not has_val
        if main:
            if improved:
                progress.best_value = value if math.isfinite(value) else progress.best_value
                progress.best_step = progress.step
                save_torch_atomic(best_path, task.model_checkpoint(model))
                if table is not None:
                    best_table = table
                    table.write_csv(out / "val_best.csv")
                    table.write_markdown(out / "val_best.md", title=f"{task.describe()} at step {progress.step}")
            row["best"] = int(improved)
            epoch_log.append(row)
            shown = f"val {metric} {value:.4f}" if math.isfinite(value) else "no val score"
            say(f"epoch {epoch_label + 1}: step {progress.step}, train loss {train_loss:.4f}, {shown}"
                f"{' (best)' if improved else ''}")
        if loop.optim.schedule == "plateau":  # the original: ×0.1 after `patience` evaluations without gain
            score = val_loss if math.isfinite(val_loss) else train_loss
            if distributed:
                score_t = torch.tensor([score], device=device)
                torch.distributed.broadcast(score_t, 0)
                score = float(score_t)
            if progress.plateau_best is None or score < progress.plateau_best * (1 - 1e-4):
                progress.plateau_best, progress.plateau_bad = score, 0
            else:
                progress.plateau_bad += 1
                if progress.plateau_bad > loop.optim.plateau_patience:
                    progress.plateau_scale *= 0.1
                    progress.plateau_bad = 0
        progress.last_eval_step = progress.step

    def checkpoint() -> None:
        if not main:
            return
        state = {
            "format": STATE_FORMAT, "version": STATE_VERSION, "config": config,
            "model": task.model_checkpoint(model), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(), "progress": dataclasses.asdict(progress),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }
        save_torch_atomic(last_path, state)

    started, samples_since, interrupted = time.perf_counter(), 0, False
    window_start = time.perf_counter()
    try:
        while progress.epoch < loop.epochs and progress.step < total_steps:
            epoch = progress.epoch
            sampler.set_epoch(epoch, start=progress.batches_in_epoch * loop.batch_size)  # type: ignore[attr-defined]
            remaining = min(steps_per_epoch - progress.batches_in_epoch, total_steps - progress.step)
            bar = tqdm(total=remaining, desc=f"epoch {epoch + 1}/{loop.epochs}", unit="step",
                       disable=not (loop.progress and main), leave=False)
            net.train()
            for batch in loader:
                if progress.step >= total_steps:
                    break
                lr = _set_lr(optimizer, lr_factor(progress.step, total_steps, loop.optim), progress.plateau_scale)
                value = float(train_step(task, net, optimizer, scaler, batch, device=device, precision=precision,
                                          grad_clip=loop.optim.grad_clip))
                if not math.isfinite(value):
                    raise FloatingPointError(f"the loss became {value} at step {progress.step + 1}: lower the learning "
                                             "rate or use precision fp32")
                progress.step += 1
                progress.batches_in_epoch += 1
                progress.epoch_loss_sum += value
                progress.epoch_loss_count += 1
                samples_since += len(batch["id"]) * world
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}")
                if main and (progress.step % loop.log_every == 0 or progress.step == total_steps):
                    now = time.perf_counter()
                    train_log.append({"step": progress.step, "epoch": epoch, "loss": value, "lr": lr,
                                      "samples_per_s": samples_since / max(now - window_start, 1e-9),
                                      "elapsed_s": now - started})
                    window_start, samples_since = now, 0
                if loop.checkpoint_every and progress.step % loop.checkpoint_every == 0 \
                        and progress.batches_in_epoch < steps_per_epoch:
                    checkpoint()
                if on_step is not None:
                    on_step(progress.step, value)
            bar.close()
            if progress.batches_in_epoch >= steps_per_epoch:  # a whole epoch: evaluate, then the next one
                if (epoch + 1) % loop.eval_every == 0 or progress.step >= total_steps:
                    evaluate_and_select(epoch)
                progress.epoch += 1
                progress.batches_in_epoch = 0
                progress.epoch_loss_sum, progress.epoch_loss_count = 0.0, 0
                checkpoint()
        if progress.last_eval_step != progress.step:  # max_steps stopped the run mid-epoch
            evaluate_and_select(progress.epoch)
            checkpoint()
    except KeyboardInterrupt:
        interrupted = True
        say(f"interrupted at step {progress.step}; run again with the same out folder to resume from last.pt")
    finally:
        if distributed:
            torch.distributed.barrier()
    best_value = progress.best_value if progress.best_value is not None else math.nan
    if not interrupted:
        say(f"done: {progress.step} steps; best {metric} {best_value:.4f} at step {progress.best_step} -> {best_path}")
    return TrainResult(out=out, steps=progress.step, epochs_done=progress.epoch, best_metric=metric,
                       best_value=best_value, best_step=progress.best_step, best_table=best_table,
                       interrupted=interrupted)
