"""What a training run is, whatever it trains: optimizer and schedule (:class:`OptimConfig`), the loop's settings
(:class:`LoopConfig`, which task configs extend), and the optimizer / learning-rate schedule they build. The loop itself
is :func:`helpers.training.training_loop.run_training`; import these names from :mod:`helpers.training`."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from helpers.base.runtime import resolve_precision

__all__ = ["LoopConfig", "OptimConfig", "build_optimizer", "lr_factor"]


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer and learning-rate schedule.

    Attributes:
        optimizer: ``"adam"`` (the original project's) or ``"adamw"`` (decoupled weight decay).
        lr: peak learning rate (the original: 1e-4).
        weight_decay: L2 (adam) or decoupled (adamw) weight decay.
        backbone_lr_scale: a pretrained encoder's learning rate as a fraction of ``lr`` (its features need smaller
            steps than a new head); used by models with ``parameter_groups``.
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


@dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """How a run trains, whatever it trains: the fields every training config shares (keyword-only). Task configs
    (:class:`helpers.depth.depth_training.TrainConfig`, :class:`helpers.latent.latent_training.LatentTrainConfig`) subclass it and are
    passed to :func:`helpers.training.training_loop.run_training` as they are.

    Attributes:
        out: run folder (created; an existing run there is resumed).
        epochs: passes over the train set.
        max_steps: stop after this many optimizer steps in total (None: ``epochs`` decides).
        batch_size: samples per step (per GPU under torchrun).
        optim: optimizer and schedule.
        precision: ``"auto"`` (bf16 / fp16 on GPUs, fp32 on the CPU), ``"fp32"``, ``"bf16"``, ``"fp16"``.
        device: ``"auto"`` (CUDA when available; ``cuda:LOCAL_RANK`` under torchrun), ``"cpu"``, ``"cuda:1"``…
        workers: loader processes.
        seed: initial weights, data order and augmentations.
        checkpoint_every: also write ``last.pt`` every this many steps (0: only at epoch ends).
        eval_every: evaluate every this many epochs (and always after the last step).
        log_every: write a ``train_log.csv`` row every this many steps (and at the last one).
        progress: tqdm bars.
        skip_bad: train without the samples whose files are missing or do not decode (the check before the first
            step: :mod:`helpers.training.sample_check`; the list goes to ``<out>/bad_samples.txt``) instead of
            stopping with that list.
    """

    out: str
    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 8
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    precision: str = "auto"
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    checkpoint_every: int = 500
    eval_every: int = 1
    log_every: int = 10
    progress: bool = True
    skip_bad: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", os.fspath(self.out))
        if min(self.epochs, self.batch_size, self.log_every, self.eval_every) < 1 or self.workers < 0:
            raise ValueError("epochs, batch_size, log_every and eval_every must be >= 1 and workers >= 0")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        resolve_precision(self.precision, torch.device("cpu"))  # validates the name

    def as_dict(self) -> dict[str, Any]:
        """The whole config as plain data (``config.json`` of the run; compared on resume)."""
        return dataclasses.asdict(self)


def build_optimizer(model: nn.Module, opt: OptimConfig) -> torch.optim.Optimizer:
    """Adam / AdamW over the trainable parameters; a model with ``parameter_groups`` (a pretrained encoder) gets its
    encoder at ``lr · backbone_lr_scale``."""
    groups: list[dict[str, Any]]
    if hasattr(model, "parameter_groups"):
        groups = model.parameter_groups(backbone_lr=opt.lr * opt.backbone_lr_scale, head_lr=opt.lr)
    else:
        groups = [{"name": "all", "params": [p for p in model.parameters() if p.requires_grad], "lr": opt.lr}]
    for group in groups:
        group["initial_lr"] = group["lr"]
    cls = torch.optim.AdamW if opt.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=opt.lr, weight_decay=opt.weight_decay)


def lr_factor(step: int, total: int, opt: OptimConfig) -> float:
    """Multiplier of the peak rate at optimizer step ``step`` (0-based) of ``total``."""
    if opt.warmup_steps and step < opt.warmup_steps:
        return (step + 1) / opt.warmup_steps
    if opt.schedule != "cosine":
        return 1.0
    span = max(1, total - opt.warmup_steps - 1)
    progress = min(1.0, (step - opt.warmup_steps) / span)
    return opt.min_lr_ratio + (1 - opt.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
