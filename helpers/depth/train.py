"""Training the depth regressors: ``python -m helpers train-depth`` and :func:`train_depth`.

One loop for every model of :mod:`helpers.depth.models` (Attention U-Net, DPT, Depth Anything) on any
:class:`~helpers.data.depth_dataset.DepthDataset` (this toolkit's folders, the published synthetic set, Prosopo):

- **Data**: the dataset's train split (augmented) and val split (not), by sample id (:mod:`helpers.data.splits`),
  resized to the model's input; loader workers decode and augment, batches are pinned and copied asynchronously, the
  ``(x − mean) / std`` normalisation runs on the device. ``cache=True`` stores resized images and depth once as
  memory-mapped arrays (``<out>/cache``), after which an item costs well under a millisecond.
- **Optimisation**: Adam / AdamW, separate learning rates for a transformer's encoder and head, warm-up then cosine
  decay, constant, or the original's ``ReduceLROnPlateau`` (stepped on the val loss), gradient clipping; mixed
  precision on GPUs (bf16 where supported, else fp16 with loss scaling), float32 on the CPU.
- **Evaluation** at the end of every epoch (and when ``max_steps`` stops a run mid-epoch) on the val split with
  :func:`helpers.depth.evaluate.evaluate_depth_model`; the best epoch by ``select_metric`` is kept.
- **Outputs** in ``<out>/``: ``config.json``, ``last.pt`` (full training state: model, optimizer, schedule, loss
  scaler, position in the epoch, RNG states), ``best.pt`` (model checkpoint of the best evaluation, loadable with
  :func:`helpers.depth.models.load_depth_model`), ``train_log.csv`` (step, epoch, loss, learning rate, samples/s),
  ``epochs.csv`` (per evaluation: train and val loss, key val metrics), ``val_last.csv`` / ``val_best.csv`` /
  ``val_best.md`` (per-sample metrics tables).
- **Resume**: running again with the same ``out`` continues from ``last.pt`` (written every ``checkpoint_every``
  steps and at every epoch end, atomically), at the same batch of the same epoch, with the same data order and
  augmentations, so an interrupted run ends with the same step count and the same weights as an uninterrupted one
  (bitwise on the CPU). Log rows written after the last checkpoint are dropped. A different config is refused
  (``epochs``, ``max_steps`` and run options such as ``workers`` may change).
- **Reproducibility**: ``seed`` fixes the initial weights, the data order and every augmentation (independent of the
  number of workers).
- **Several GPUs**: launch with ``torchrun --nproc_per_node N -m helpers train-depth ...``: DistributedDataParallel,
  each rank takes its share of every epoch (``batch_size`` is per GPU), rank 0 evaluates and writes.

Losses by model target when ``loss`` is not given: ``"original"`` → the original's whole-image L1 on [-1, 1]
maps (``original_l1``, ``masked=False``); ``"metric_z"`` → masked L1 on z; ``"relative_inverse"`` → the MiDaS
scale-and-shift-invariant loss in disparity space with the gradient-matching term (weight 0.5).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from helpers.atomic import atomic_path, write_text_atomic
from helpers.data.augment import AugmentConfig
from helpers.data.depth_dataset import DepthDataset, DepthDatasetConfig, Source
from helpers.data.loader import make_loader
from helpers.data.splits import SplitConfig
from helpers.depth.evaluate import EvaluationConfig, evaluate_depth_model, model_forward
from helpers.depth.losses import DepthLoss, DepthLossConfig
from helpers.depth.metrics import METRIC_INFO, MetricsTable
from helpers.depth.models import DepthModelConfig, build_depth_model, model_checkpoint, save_depth_model
from helpers.runtime import autocast, distributed_environment, resolve_device, resolve_precision

__all__ = ["OptimConfig", "TrainConfig", "TrainResult", "build_optimizer", "default_loss", "train_depth", "train_step"]

STATE_FORMAT = "helpers-depth-train"
STATE_VERSION = 1

#: Config fields that may change when a run is resumed (they do not change what is learned).
RESUMABLE_CHANGES = ("epochs", "max_steps", "workers", "cache", "progress", "device", "checkpoint_every",
                     "log_every", "eval_every", "val_batches")

#: Metrics copied from the val table into ``epochs.csv`` when present.
EPOCH_METRICS = ("original_l1", "original_l1_masked", "original_perfect", "abs_rel", "rmse", "delta1",
                 "normal_mean_deg")


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer and learning-rate schedule.

    Attributes:
        optimizer: ``"adam"`` (the original) or ``"adamw"`` (decoupled weight decay).
        lr: peak learning rate (the original: 1e-4).
        weight_decay: L2 (adam) or decoupled (adamw) weight decay.
        backbone_lr_scale: a transformer encoder's learning rate as a fraction of ``lr`` (its pretrained features
            need smaller steps than the new head); ignored by the U-Net.
        schedule: ``"cosine"`` (linear warm-up, then cosine decay to ``min_lr_ratio · lr`` at the last step),
            ``"constant"`` (after warm-up), or ``"plateau"`` (the original: ×0.1 when the val loss has not
            improved for ``plateau_patience`` evaluations).
        warmup_steps: linear warm-up from 0 over this many steps (cosine / constant).
        min_lr_ratio: final learning rate of the cosine schedule, as a fraction of ``lr``.
        plateau_patience: evaluations without improvement before ``"plateau"`` lowers the rate.
        grad_clip: clip the gradients' global norm to this (None: no clipping).
    """

    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    backbone_lr_scale: float = 0.1
    schedule: Literal["cosine", "constant", "plateau"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    plateau_patience: int = 3
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant", "plateau"):
            raise ValueError(f"schedule must be 'cosine', 'constant' or 'plateau', got {self.schedule!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("warmup_steps and weight_decay must be >= 0 and min_lr_ratio in [0, 1]")


@dataclass(frozen=True)
class TrainConfig:
    """A training run (see the module docstring).

    Attributes:
        data: dataset folders (ours or the original layouts); their train / val splits are used.
        out: run folder (created; an existing run there is resumed).
        model: the network (:class:`~helpers.depth.models.DepthModelConfig`).
        loss: the loss; None = the default for the model's target (module docstring). Its ``target`` field is set
            from the data.
        depth_size: side of the depth maps compared with the prediction (128: the original's).
        source: dataset source detection (``"auto"``) or a forced layout.
        splits: split fractions and salt (train 0.9 / val 0.05 / test 0.05).
        augment: training augmentations (None: off).
        epochs: passes over the train split.
        max_steps: stop after this many optimizer steps in total (None: ``epochs`` decides).
        batch_size: images per step (per GPU under torchrun).
        optim: optimizer and schedule.
        precision: ``"auto"`` (bf16 / fp16 on GPUs, fp32 on the CPU), ``"fp32"``, ``"bf16"``, ``"fp16"``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:1"``…
        workers: loader processes.
        cache: decode and resize every image once into memory-mapped arrays under ``<out>/cache``.
        seed: initial weights, data order and augmentations.
        checkpoint_every: also write ``last.pt`` every this many steps (0: only at epoch ends).
        eval_every: evaluate every this many epochs (and always after the last step).
        val_batches: evaluate on at most this many val batches (None: the whole split).
        select_metric: val metric that picks ``best.pt`` (a key of :data:`helpers.depth.metrics.METRIC_INFO`;
            lower is better except δ and "perfect" fractions). None: ``"original_l1"``, comparable across models.
        log_every: write a ``train_log.csv`` row every this many steps.
        progress: tqdm bars.
    """

    data: tuple[str, ...]
    out: str
    model: DepthModelConfig = field(default_factory=DepthModelConfig)
    loss: DepthLossConfig | None = None
    depth_size: int = 128
    source: Source = "auto"
    splits: SplitConfig = field(default_factory=SplitConfig)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 8
    optim: OptimConfig = field(default_factory=OptimConfig)
    precision: str = "auto"
    device: str = "auto"
    workers: int = 2
    cache: bool = False
    seed: int = 0
    checkpoint_every: int = 500
    eval_every: int = 1
    val_batches: int | None = None
    select_metric: str | None = None
    log_every: int = 10
    progress: bool = True

    def __post_init__(self) -> None:
        data = (self.data,) if isinstance(self.data, (str, os.PathLike)) else tuple(str(p) for p in self.data)
        object.__setattr__(self, "data", tuple(os.fspath(p) for p in data))
        object.__setattr__(self, "out", os.fspath(self.out))
        if not self.data:
            raise ValueError("TrainConfig.data needs at least one dataset folder")
        if min(self.epochs, self.batch_size, self.log_every, self.eval_every) < 1 or self.workers < 0:
            raise ValueError("epochs, batch_size, log_every and eval_every must be >= 1 and workers >= 0")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if self.select_metric is not None and self.select_metric not in METRIC_INFO:
            raise ValueError(f"unknown select_metric {self.select_metric!r}; choose one of {sorted(METRIC_INFO)}")
        resolve_precision(self.precision, torch.device("cpu"))  # validates the name

    @property
    def metric_name(self) -> str:
        return self.select_metric or "original_l1"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_depth` returns: the run folder, steps done, best evaluation and its table."""

    out: Path
    steps: int
    epochs_done: int
    best_metric: str
    best_value: float
    best_step: int
    best_table: MetricsTable | None
    interrupted: bool = False

    @property
    def best_checkpoint(self) -> Path:
        return self.out / "best.pt"


def default_loss(model: DepthModelConfig, data_target: str) -> DepthLossConfig:
    """The loss of a model target when none is given (module docstring), for data in ``data_target``."""
    if model.target == "original":
        return DepthLossConfig(kind="original_l1", masked=False, target=data_target)  # type: ignore[arg-type]
    if model.target == "relative_inverse":
        return DepthLossConfig(kind="ssi", space="disparity", gradient_weight=0.5)
    return DepthLossConfig(kind="l1")


def _better(metric: str, value: float, best: float | None) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    higher = METRIC_INFO.get(metric, ("", "↓"))[1] == "↑"
    return value > best if higher else value < best


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
        buffer = [",".join(self.columns)]
        buffer += [",".join(row.get(c, "") for c in self.columns) for row in rows]
        write_text_atomic(self.path, "\n".join(buffer) + "\n")

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


# ------------------------------------------------------------------------------------------------ setup
def _datasets(config: TrainConfig) -> tuple[DepthDataset, DepthDataset, str]:
    """Train and val datasets and what their depth holds (``"metric_z"`` or ``"original"``)."""
    size = config.model.resolved_input_size
    base = DepthDatasetConfig(image_size=size, depth_size=config.depth_size, target="original",
                              source=config.source, splits=config.splits)
    probe = DepthDataset(config.data, base)
    data_target = "metric_z" if probe.all_sources_metric else "original"
    if data_target == "original" and config.model.target != "original":
        raise ValueError(
            f"a {config.model.target!r} model needs metric depth, but {', '.join(config.data)} include the original "
            "layouts (8-bit depth normalised per image): train a model with target 'original' on them"
        )
    train = DepthDataset(config.data, dataclasses.replace(base, target=data_target, split="train",
                                                          augment=config.augment))
    val = train.with_config(split="val", augment=None)
    if len(train) == 0:
        raise ValueError(f"the train split of {', '.join(config.data)} is empty ({len(probe)} samples in all): "
                         "add samples or change TrainConfig.splits")
    return train, val, data_target


def _loss_config(config: TrainConfig, data_target: str) -> DepthLossConfig:
    if config.loss is None:
        return default_loss(config.model, data_target)
    if config.loss.kind == "original_l1":
        return dataclasses.replace(config.loss, target=data_target)  # type: ignore[arg-type]
    return config.loss


def build_optimizer(model: nn.Module, opt: OptimConfig) -> torch.optim.Optimizer:
    """Adam / AdamW over the trainable parameters; a transformer's encoder at ``lr · backbone_lr_scale``."""
    groups: list[dict[str, Any]]
    if hasattr(model, "parameter_groups"):
        groups = model.parameter_groups(backbone_lr=opt.lr * opt.backbone_lr_scale, head_lr=opt.lr)
    else:
        groups = [{"name": "all", "params": [p for p in model.parameters() if p.requires_grad], "lr": opt.lr}]
    for group in groups:
        group["initial_lr"] = group["lr"]
    cls = torch.optim.AdamW if opt.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=opt.lr, weight_decay=opt.weight_decay)


def _lr_factor(step: int, total: int, opt: OptimConfig) -> float:
    """Multiplier of the peak rate at optimizer step ``step`` (0-based) of ``total``."""
    if opt.warmup_steps and step < opt.warmup_steps:
        return (step + 1) / opt.warmup_steps
    if opt.schedule != "cosine":
        return 1.0
    span = max(1, total - opt.warmup_steps - 1)
    progress = min(1.0, (step - opt.warmup_steps) / span)
    return opt.min_lr_ratio + (1 - opt.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _set_lr(optimizer: torch.optim.Optimizer, factor: float, plateau_scale: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor * plateau_scale
    return float(optimizer.param_groups[-1]["lr"])


# ------------------------------------------------------------------------------------------------ state
def _config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in sorted(set(saved) | set(current))
            if key not in RESUMABLE_CHANGES and _jsonable(saved.get(key)) != _jsonable(current.get(key))]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


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


def _save_state(path: Path, model: nn.Module, config: TrainConfig, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, progress: _Progress) -> None:
    state = {
        "format": STATE_FORMAT, "version": STATE_VERSION, "config": _jsonable(config.as_dict()),
        "model": model_checkpoint(model, config.model), "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(), "progress": dataclasses.asdict(progress),
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
    }
    with atomic_path(path) as part:
        torch.save(state, part)


def _load_state(path: Path) -> dict[str, Any]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path} is not a training state written by helpers.depth.train")
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: training state version {state.get('version')!r} is not supported")
    return state


# ------------------------------------------------------------------------------------------------ the loop
def train_step(net: nn.Module, model_config: DepthModelConfig, criterion: nn.Module,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, batch: dict[str, Any], *,
               device: torch.device, precision: str, grad_clip: float | None) -> torch.Tensor:
    """One optimizer step on a loader batch (moved to ``device`` asynchronously); returns the detached loss.

    The forward pass runs under autocast for ``precision``; the loss is computed in float32; fp16 uses the loss
    scaler (a no-op scaler otherwise); gradients are clipped to ``grad_clip`` (global norm) when given."""
    images = batch["image"].to(device, non_blocking=True)
    depth = batch["depth"].to(device, non_blocking=True)
    mask = batch["mask"].to(device, non_blocking=True)
    with autocast(device, precision):
        pred = model_forward(net, model_config, images, depth.shape[-1])
    loss = criterion(pred, depth, mask)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


def train_depth(config: TrainConfig, *, log: Callable[[str], None] = print,
                on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train (or resume) a depth model as ``config`` says; see the module docstring.

    Args:
        config: the run.
        log: where progress lines go (rank 0 only).
        on_step: called after every optimizer step with ``(step, loss)`` (e.g. to stop early by raising
            ``KeyboardInterrupt``: the run keeps its last checkpoint and can be resumed).

    Returns:
        A :class:`TrainResult` (``interrupted`` when a ``KeyboardInterrupt`` stopped it; ``last.pt`` is then the
        last checkpoint written, not the interrupted step).
    """
    from tqdm.auto import tqdm

    rank, world, _ = distributed_environment()
    distributed = world > 1
    device = resolve_device(config.device)  # "auto" under torchrun: cuda:LOCAL_RANK
    if distributed and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    main = rank == 0
    say = log if main else (lambda _msg: None)
    precision = resolve_precision(config.precision, device)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    train_set, val_set, data_target = _datasets(config)
    if config.cache:
        train_set = train_set.use_cache(out / "cache", workers=config.workers, progress=config.progress and main)
        val_set = val_set.use_cache(out / "cache", workers=config.workers, progress=config.progress and main)
    loss_config = _loss_config(config, data_target)
    criterion = DepthLoss(loss_config)

    torch.manual_seed(config.seed)
    model = build_depth_model(config.model).to(device)
    optimizer = build_optimizer(model, config.optim)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    progress = _Progress()

    last_path, best_path = out / "last.pt", out / "best.pt"
    train_log = _CsvLog(out / "train_log.csv", ["step", "epoch", "loss", "lr", "samples_per_s", "elapsed_s"])
    epoch_log = _CsvLog(out / "epochs.csv", ["epoch", "step", "train_loss", "val_loss", *EPOCH_METRICS, "lr",
                                             "best"])
    if last_path.is_file():
        state = _load_state(last_path)
        differences = _config_differences(state["config"], _jsonable(config.as_dict()))
        if differences:
            raise ValueError(f"{out} holds a run with another config; use another out folder or the same "
                             "settings. Differences:\n  " + "\n  ".join(differences))
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
        write_text_atomic(out / "config.json", json.dumps(_jsonable(config.as_dict()), indent=2) + "\n")

    net: nn.Module = model
    if distributed:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    drop_last = len(train_set) >= config.batch_size * world
    loader = make_loader(train_set, config.batch_size, shuffle=True, workers=config.workers, seed=config.seed,
                         drop_last=drop_last, rank=rank, world_size=world)
    sampler = loader.sampler
    steps_per_epoch = len(loader)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    evaluation = EvaluationConfig(batch_size=config.batch_size, workers=config.workers, precision=precision,
                                  limit=config.val_batches, progress=config.progress)
    if main:
        say(f"training {config.model.name} ({config.model.target}) on {len(train_set)} images "
            f"({len(val_set)} val) from {', '.join(config.data)}: {steps_per_epoch} steps/epoch, "
            f"{total_steps} steps, batch {config.batch_size}x{world}, {precision} on {device}, loss {loss_config.kind}")
        if len(val_set) == 0:
            say("warning: the val split is empty: no evaluation, best.pt follows the last epoch")

    best_table: MetricsTable | None = None
    metric = config.metric_name

    def evaluate_and_select(epoch_label: int) -> None:
        nonlocal best_table
        train_loss = progress.epoch_loss_sum / max(1, progress.epoch_loss_count)
        lr_now = float(optimizer.param_groups[-1]["lr"])
        row: dict[str, Any] = {"epoch": epoch_label, "step": progress.step, "train_loss": train_loss,
                               "lr": lr_now}
        value, val_loss, table = math.nan, math.nan, None
        if main and len(val_set):
            table, val_loss = evaluate_depth_model(model, config.model, val_set, evaluation, loss=criterion)
            table.write_csv(out / "val_last.csv")
            means = table.mean()
            value = float(means.get(metric, math.nan))
            row.update({key: float(means[key]) for key in EPOCH_METRICS if key in means})
            row["val_loss"] = val_loss
        improved = _better(metric, value, progress.best_value) or (not len(val_set))
        if main:
            if improved:
                progress.best_value = value if math.isfinite(value) else progress.best_value
                progress.best_step = progress.step
                save_depth_model(model, config.model, best_path)
                if table is not None:
                    best_table = table
                    table.write_csv(out / "val_best.csv")
                    table.write_markdown(out / "val_best.md", title=f"{config.model.name} at step {progress.step}")
            row["best"] = int(improved)
            epoch_log.append(row)
            shown = f"val {metric} {value:.4f}" if math.isfinite(value) else "no val score"
            say(f"epoch {epoch_label + 1}: step {progress.step}, train loss {train_loss:.4f}, {shown}"
                f"{' (best)' if improved else ''}")
        if config.optim.schedule == "plateau":  # the original: ×0.1 after `patience` evaluations without gain
            score = val_loss if math.isfinite(val_loss) else train_loss
            if distributed:
                score_t = torch.tensor([score], device=device)
                torch.distributed.broadcast(score_t, 0)
                score = float(score_t)
            if progress.plateau_best is None or score < progress.plateau_best * (1 - 1e-4):
                progress.plateau_best, progress.plateau_bad = score, 0
            else:
                progress.plateau_bad += 1
                if progress.plateau_bad > config.optim.plateau_patience:
                    progress.plateau_scale *= 0.1
                    progress.plateau_bad = 0
        progress.last_eval_step = progress.step

    def checkpoint() -> None:
        if main:
            _save_state(last_path, model, config, optimizer, scaler, progress)

    started, samples_since, interrupted = time.perf_counter(), 0, False
    window_start = time.perf_counter()
    try:
        while progress.epoch < config.epochs and progress.step < total_steps:
            epoch = progress.epoch
            sampler.set_epoch(epoch, start=progress.batches_in_epoch * config.batch_size)
            remaining = min(steps_per_epoch - progress.batches_in_epoch, total_steps - progress.step)
            bar = tqdm(total=remaining, desc=f"epoch {epoch + 1}/{config.epochs}", unit="step",
                       disable=not (config.progress and main), leave=False)
            net.train()
            for batch in loader:
                if progress.step >= total_steps:
                    break
                lr = _set_lr(optimizer, _lr_factor(progress.step, total_steps, config.optim), progress.plateau_scale)
                loss = train_step(net, config.model, criterion, optimizer, scaler, batch, device=device,
                                  precision=precision, grad_clip=config.optim.grad_clip)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"the loss became {float(loss)} at step {progress.step}: lower the "
                                             "learning rate or use precision fp32")
                value = float(loss.detach())
                progress.step += 1
                progress.batches_in_epoch += 1
                progress.epoch_loss_sum += value
                progress.epoch_loss_count += 1
                samples_since += len(batch["id"]) * world
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}")
                if main and (progress.step % config.log_every == 0 or progress.step == total_steps):
                    now = time.perf_counter()
                    train_log.append({"step": progress.step, "epoch": epoch, "loss": value, "lr": lr,
                                      "samples_per_s": samples_since / max(now - window_start, 1e-9),
                                      "elapsed_s": now - started})
                    window_start, samples_since = now, 0
                if config.checkpoint_every and progress.step % config.checkpoint_every == 0 \
                        and progress.batches_in_epoch < steps_per_epoch:
                    checkpoint()
                if on_step is not None:
                    on_step(progress.step, value)
            bar.close()
            if progress.batches_in_epoch >= steps_per_epoch:  # a whole epoch: evaluate, then the next one
                if (epoch + 1) % config.eval_every == 0 or progress.step >= total_steps:
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
    if main and not interrupted:
        say(f"done: {progress.step} steps; best {metric} "
            f"{progress.best_value if progress.best_value is not None else float('nan'):.4f} at step "
            f"{progress.best_step} -> {best_path}")
    return TrainResult(out=out, steps=progress.step, epochs_done=progress.epoch, best_metric=metric,
                       best_value=progress.best_value if progress.best_value is not None else math.nan,
                       best_step=progress.best_step, best_table=best_table, interrupted=interrupted)


# ------------------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, m, o = TrainConfig(data=("_",), out="_"), DepthModelConfig(), OptimConfig()
    parser.add_argument("data", nargs="+", help="dataset folders (ours, the published synthetic set, Prosopo)")
    parser.add_argument("--out", required=True, help="run folder (an existing run there is resumed)")
    parser.add_argument("--model", default=m.name,
                        help="attention_unet, dpt-large, dpt-hybrid-midas, depth-anything-v2-small, tiny-random-dpt… "
                             "(default: %(default)s)")
    parser.add_argument("--target", default=m.target, choices=("original", "metric_z", "relative_inverse"),
                        help="what the model regresses (default: %(default)s, the original's [-1, 1] maps)")
    parser.add_argument("--input-size", type=int, default=None, help="network input side (default: the model's)")
    parser.add_argument("--start-filts", type=int, default=m.start_filts, help="U-Net width (default: %(default)s)")
    parser.add_argument("--n-blocks", type=int, default=m.n_blocks, help="U-Net depth (default: %(default)s)")
    parser.add_argument("--no-pretrained", action="store_true", help="transformers: random initial weights")
    parser.add_argument("--freeze-backbone", action="store_true", help="transformers: train neck and head only")
    parser.add_argument("--loss", choices=("original_l1", "l1", "l2", "ssi"), default=None,
                        help="loss kind (default: by target, see the docs)")
    parser.add_argument("--gradient-weight", type=float, default=None, help="gradient-matching term weight")
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="per GPU (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=o.lr)
    parser.add_argument("--optimizer", choices=("adam", "adamw"), default=o.optimizer)
    parser.add_argument("--weight-decay", type=float, default=o.weight_decay)
    parser.add_argument("--schedule", choices=("cosine", "constant", "plateau"), default=o.schedule)
    parser.add_argument("--warmup-steps", type=int, default=o.warmup_steps)
    parser.add_argument("--no-augment", action="store_true", help="train without augmentations")
    parser.add_argument("--precision", default=d.precision, choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--device", default=d.device)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--cache", action="store_true", help="decode images once into memory-mapped arrays")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="steps (0: epoch ends)")
    parser.add_argument("--eval-every", type=int, default=d.eval_every, help="epochs between evaluations")
    parser.add_argument("--val-batches", type=int, default=None, help="evaluate on at most this many val batches")
    parser.add_argument("--select-metric", default=None, help="val metric for best.pt (default: original_l1)")
    parser.add_argument("--depth-size", type=int, default=d.depth_size)
    parser.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    model = DepthModelConfig(name=args.model, target=args.target, input_size=args.input_size,
                             start_filts=args.start_filts, n_blocks=args.n_blocks,
                             pretrained=False if args.no_pretrained else None, freeze_backbone=args.freeze_backbone)
    loss = None
    if args.loss is not None or args.gradient_weight is not None:
        base = default_loss(model, "metric_z")
        kind = args.loss or base.kind
        fields: dict[str, Any] = {"kind": kind}
        if kind == "ssi":
            fields["space"] = "disparity" if model.target == "relative_inverse" else "depth"
        if kind == "original_l1":
            fields["masked"] = False
        fields["gradient_weight"] = args.gradient_weight if args.gradient_weight is not None else (
            base.gradient_weight if kind == base.kind else 0.0)
        loss = DepthLossConfig(**fields)
    optim = OptimConfig(optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule,
                        warmup_steps=args.warmup_steps)
    return TrainConfig(data=tuple(args.data), out=args.out, model=model, loss=loss, depth_size=args.depth_size,
                       augment=None if args.no_augment else AugmentConfig(), epochs=args.epochs,
                       max_steps=args.max_steps, batch_size=args.batch_size, optim=optim, precision=args.precision,
                       device=args.device, workers=args.workers, cache=args.cache, seed=args.seed,
                       checkpoint_every=args.checkpoint_every, eval_every=args.eval_every, val_batches=args.val_batches,
                       select_metric=args.select_metric, progress=not args.no_progress)


def run(args: argparse.Namespace) -> int:
    result = train_depth(config_from_args(args))
    return 130 if result.interrupted else 0
