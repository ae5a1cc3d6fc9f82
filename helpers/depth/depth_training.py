"""Training the depth regressors: ``python -m helpers train-depth`` and :func:`train_depth`.

One loop (:func:`helpers.training.training_loop.run_training`) for every model of :mod:`helpers.depth.models`
(Attention U-Net, DPT, Depth Anything) on any :class:`~helpers.depth.data.depth_dataset.DepthDataset` (this toolkit's
folders, the published synthetic set, Prosopo): train split augmented, val split not, by sample id
(:mod:`helpers.dataset_folder.splits`); evaluation on the val split at the end of every epoch with
:func:`helpers.depth.evaluate_depth.evaluate_depth_model`; the best epoch by ``select_metric`` is kept.

Outputs in ``<out>/``: ``config.json``, ``last.pt`` (full training state), ``best.pt`` (loadable with
:func:`helpers.depth.models.load_depth_model`), ``train_log.csv``, ``epochs.csv``, ``val_last.csv`` / ``val_best.csv``
/ ``val_best.md``. Running again with the same ``out`` continues from ``last.pt``, so an interrupted run ends with
the weights of an uninterrupted one (bitwise on the CPU); a different config is refused (``epochs``, ``max_steps``
and run options such as ``workers`` may change). ``seed`` fixes the initial weights, the data order and every
augmentation. Several GPUs: ``torchrun --nproc_per_node N -m helpers train-depth ...`` (``batch_size`` is per GPU).
Every sample is checked before the first step (:mod:`helpers.training.sample_check`; ``skip_bad`` leaves bad ones out).

Losses by model target when ``loss`` is not given: ``"original"`` → the original's whole-image L1 on [-1, 1]
maps (``original_l1``, ``masked=False``); ``"metric_z"`` → masked L1 on z; ``"relative_inverse"`` → the MiDaS
scale-and-shift-invariant loss in disparity space with the gradient-matching term (weight 0.5).
Design notes: docs/design/depth.md (depth_training): data, loop, outputs and resume in full.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.base.errors import UserError
from helpers.base.runtime import distributed_environment, resolve_device
from helpers.dataset_folder.splits import SplitConfig
from helpers.depth.data.augment import AugmentConfig
from helpers.depth.data.depth_data_config import DepthDatasetConfig, Source
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.depth.evaluate_depth import EvaluationConfig, evaluate_depth_model, model_forward
from helpers.depth.losses import DepthLoss, DepthLossConfig
from helpers.depth.metrics.metrics_table import METRIC_INFO, MetricsTable, metric_mode
from helpers.depth.models import DepthModelConfig, build_depth_model, model_checkpoint
from helpers.training.sample_check import BAD_SAMPLES, screen_datasets
from helpers.training.training_config import LoopConfig, OptimConfig
from helpers.training.training_loop import TrainResult, run_folder_lock, run_training

__all__ = ["DepthTask", "TrainConfig", "default_loss", "train_depth"]

#: Metrics copied from the val table into ``epochs.csv`` when present.
EPOCH_METRICS = ("original_l1", "original_l1_masked", "original_perfect", "abs_rel", "rmse", "delta1",
                 "normal_mean_deg")


@dataclass(frozen=True, kw_only=True)
class TrainConfig(LoopConfig):
    """A training run (see the module docstring).

    Attributes:
        data: dataset folders (ours or the original layouts); their train / val splits are used.
        model: the network (:class:`~helpers.depth.models.DepthModelConfig`).
        loss: the loss; None = the default for the model's target (module docstring). Its ``target`` field is set
            from the data.
        depth_size: side of the depth maps compared with the prediction (128: the original's).
        source: dataset source detection (``"auto"``) or a forced layout.
        splits: split fractions and salt (train 0.9 / val 0.05 / test 0.05).
        augment: training augmentations (None: off).
        cache: decode and resize every image once into memory-mapped arrays under ``<out>/cache``.
        val_batches: evaluate on at most this many val batches (None: the whole split).
        select_metric: val metric that picks ``best.pt`` (a key of :data:`helpers.depth.metrics.metrics_table.METRIC_INFO`;
            lower is better except δ and "perfect" fractions). None: ``"original_l1"``, comparable across models.
        Loop fields (``out``, the run folder, and ``epochs`` … ``progress``): :class:`helpers.training.training_loop.LoopConfig`.
    """

    data: tuple[str, ...]
    model: DepthModelConfig = field(default_factory=DepthModelConfig)
    loss: DepthLossConfig | None = None
    depth_size: int = 128
    source: Source = "auto"
    splits: SplitConfig = field(default_factory=SplitConfig)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    cache: bool = False
    val_batches: int | None = None
    select_metric: str | None = None

    def __post_init__(self) -> None:
        data = (self.data,) if isinstance(self.data, (str, os.PathLike)) else tuple(str(p) for p in self.data)
        object.__setattr__(self, "data", tuple(os.fspath(p) for p in data))
        if not self.data:
            raise ValueError("TrainConfig.data needs at least one dataset folder")
        super().__post_init__()  # the loop fields
        if self.select_metric is not None and self.select_metric not in METRIC_INFO:
            raise ValueError(f"unknown select_metric {self.select_metric!r}; choose one of {sorted(METRIC_INFO)}")

    @property
    def metric_name(self) -> str:
        return self.select_metric or "original_l1"


def default_loss(model: DepthModelConfig, data_target: str) -> DepthLossConfig:
    """The loss of a model target when none is given (module docstring), for data in ``data_target``."""
    if model.target == "original":
        return DepthLossConfig(kind="original_l1", masked=False, target=data_target)  # type: ignore[arg-type]
    if model.target == "relative_inverse":
        return DepthLossConfig(kind="ssi", space="disparity", gradient_weight=0.5)
    return DepthLossConfig(kind="l1")


# ------------------------------------------------------------------------------------------------ setup
def _datasets(config: TrainConfig) -> tuple[DepthDataset, DepthDataset, str]:
    """Train and val datasets and what their depth holds (``"metric_z"`` or ``"original"``)."""
    size = config.model.resolved_input_size
    base = DepthDatasetConfig(image_size=size, depth_size=config.depth_size, target="original",
                              source=config.source, splits=config.splits, missing="skip")  # the check lists them
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


class DepthTask:
    """A :class:`helpers.training.training_loop.TrainingTask` for a depth model: datasets, network, loss, evaluation.

    Making one checks every sample of the train and val splits (:func:`helpers.training.sample_check.screen_datasets`,
    results kept in ``config.out``): :attr:`excluded_samples` are the samples left out (``skip_bad``, or a resumed
    run's earlier choice)."""

    epoch_metrics = EPOCH_METRICS

    def __init__(self, config: TrainConfig, *, progress: bool = True, log: Callable[[str], None] = print) -> None:
        self.config = config
        train, val, data_target = _datasets(config)
        main = distributed_environment()[0] == 0
        (self.train_set, self.val_set), self.excluded_samples = screen_datasets(
            [train, val], config.out, skip_bad=config.skip_bad, progress=progress, log=log, main=main)
        if len(self.train_set) == 0:
            listing = Path(config.out) / BAD_SAMPLES
            why = (f"none can be read (the bad files are listed in {listing})" if self.excluded_samples
                   else "the split is empty (too few samples for its share, or an empty folder)")
            raise UserError(f"no training samples in {', '.join(config.data)}: {why}",
                            "fix or add samples (each folder is split into train, val and test by sample id)")
        if config.cache:
            cache = Path(config.out) / "cache"
            self.train_set = self.train_set.use_cache(cache, workers=config.workers, progress=progress)
            self.val_set = self.val_set.use_cache(cache, workers=config.workers, progress=progress)
        self.loss_config = _loss_config(config, data_target)
        self.criterion = DepthLoss(self.loss_config)
        self.select_metric = config.metric_name
        self.select_mode = metric_mode(self.select_metric)

    def build_model(self) -> nn.Module:
        return build_depth_model(self.config.model)

    def describe(self) -> str:
        m = self.config.model
        return f"{m.name} ({m.target}, loss {self.loss_config.kind}) on {', '.join(self.config.data)}"

    def loss(self, net: nn.Module, batch: Mapping[str, Any], device: torch.device) -> torch.Tensor:
        images = batch["image"].to(device, non_blocking=True)
        depth = batch["depth"].to(device, non_blocking=True)
        mask = batch["mask"].to(device, non_blocking=True)
        pred = model_forward(net, self.config.model, images, depth.shape[-1])
        return self.criterion(pred, depth, mask)

    def evaluate(self, model: nn.Module, *, batch_size: int, workers: int, precision: str,
                 progress: bool) -> tuple[MetricsTable, float]:
        evaluation = EvaluationConfig(batch_size=batch_size, workers=workers, precision=precision,
                                      limit=self.config.val_batches, progress=progress)
        return evaluate_depth_model(model, self.config.model, self.val_set, evaluation, loss=self.criterion)

    def model_checkpoint(self, model: nn.Module) -> dict[str, Any]:
        return model_checkpoint(model, self.config.model)


def train_depth(config: TrainConfig, *, log: Callable[[str], None] = print,
                on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train (or resume) a depth model as ``config`` says; see the module docstring and
    :func:`helpers.training.training_loop.run_training` (``log``, ``on_step``, the returned :class:`TrainResult`)."""
    rank, _, _ = distributed_environment()
    resolve_device(config.device)  # a missing GPU stops the run before anything is written
    with run_folder_lock(config.out, "train-depth"):  # the data check and the cache write into the run folder too
        task = DepthTask(config, progress=config.progress and rank == 0, log=log)
        return run_training(task, config, {**config.as_dict(), "excluded_samples": task.excluded_samples}, log=log,
                            on_step=on_step)


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
                        help="loss kind (default: by target, see docs/depth.md)")
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
    parser.add_argument("--skip-bad", action="store_true",
                        help="train without the samples whose files are missing or do not decode (listed in "
                             "OUT/bad_samples.txt) instead of stopping")
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
                       select_metric=args.select_metric, skip_bad=args.skip_bad, progress=not args.no_progress)


def run(args: argparse.Namespace) -> int:
    result = train_depth(config_from_args(args))
    return 130 if result.interrupted else 0
