"""Training a latent-code encoder: ``python -m helpers train-latent`` and :func:`train_latent`.

The loop is :func:`helpers.training.training_loop.run_training` (mixed precision, resumable checkpoints, schedules, CSV logs,
torchrun), the same as for the depth models. The task:

- **Data**: :class:`~helpers.latent.latent_dataset.LatentDataset` over dataset folders that store latents (generated with
  ``python -m helpers generate``, or the published synthetic set), split by sample id; the depth maps are read at the
  generator's neural rendering resolution for the rendered-depth metrics.
- **Model**: :class:`~helpers.latent.encoder.LatentEncoder`, starting at the generator's ``w_avg``.
- **Loss**: L1 (default) or L2 between predicted and true w, i.e. on the offset from ``w_avg``; with
  ``depth_weight`` > 0 also the L1 between the z-depth EG3D renders from the prediction (sample camera) and the
  sample's depth on its mask, back-propagated through the frozen generator (slower: one render per step).
- **Evaluation** (:mod:`helpers.latent.evaluate_latent`): latent errors and rendered-depth metrics per val sample; the
  best epoch by ``select_metric`` (default ``latent_l1``). At the end, the same metrics for the ``w_avg`` and
  mean-w baselines are written beside the model's (``baselines.md``) and printed.
- **Data check** before the first step (:mod:`helpers.training.sample_check`): every sample's image, depth and latent
  exist and decode; bad samples stop the run with their list, or with ``skip_bad`` are left out. One run at a time
  holds the run folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from helpers import eg3d
from helpers.base.atomic import write_text_atomic
from helpers.base.runtime import distributed_environment, resolve_device
from helpers.dataset_folder.splits import SplitConfig
from helpers.depth.data.augment import AugmentConfig
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.depth.metrics.metrics_table import METRIC_INFO, MetricsTable, compare_markdown, metric_mode
from helpers.latent.encoder import LatentEncoder, LatentEncoderConfig, encoder_checkpoint, load_latent_encoder
from helpers.latent.evaluate_latent import constant_predictor, encoder_predictor, evaluate_latents, render_depth
from helpers.latent.latent_dataset import LatentDataset
from helpers.training.training_config import LoopConfig, OptimConfig
from helpers.training.sample_check import screen_datasets
from helpers.training.training_loop import TrainResult, run_folder_lock, run_training

__all__ = ["LatentLossConfig", "LatentTask", "LatentTrainConfig", "evaluate_baselines", "train_latent"]

EPOCH_METRICS = ("latent_l1", "latent_l2", "ws_l1", "abs_rel", "mae")


@dataclass(frozen=True)
class LatentLossConfig:
    """Training loss of the encoder.

    Attributes:
        kind: ``"l1"`` or ``"l2"`` on w (per layer for W+ predictions).
        depth_weight: weight of the rendered-depth L1 term (0: off; world units).
    """

    kind: Literal["l1", "l2"] = "l1"
    depth_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("l1", "l2"):
            raise ValueError(f"kind must be 'l1' or 'l2', got {self.kind!r}")
        if not self.depth_weight >= 0:
            raise ValueError(f"depth_weight must be >= 0, got {self.depth_weight}")


@dataclass(frozen=True, kw_only=True)
class LatentTrainConfig(LoopConfig):
    """A latent-encoder training run.

    Attributes:
        data: dataset folders with latents.
        generator: the EG3D checkpoint the data was generated with (registry name or path; ``"tiny-random"`` for
            smoke runs): its ``w_avg`` starts the encoder, it renders the depth metrics.
        encoder: the network; loss: the loss.
        augment: photometric augmentation (flips and crops are never used).
        splits: split fractions and salt; select_metric: val metric that picks ``best.pt``.
        val_batches: evaluate on at most this many val batches.
        Loop fields (``out``, the run folder, and ``epochs`` … ``progress``): :class:`helpers.training.training_loop.LoopConfig`,
            here with 20 epochs, batch 16 and a learning rate of 1e-3.
    """

    data: tuple[str, ...]
    generator: str = "ffhq512-128"
    encoder: LatentEncoderConfig = field(default_factory=LatentEncoderConfig)
    loss: LatentLossConfig = field(default_factory=LatentLossConfig)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    splits: SplitConfig = field(default_factory=SplitConfig)
    select_metric: str = "latent_l1"
    val_batches: int | None = None
    epochs: int = 20
    batch_size: int = 16
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3))

    def __post_init__(self) -> None:
        data = (self.data,) if isinstance(self.data, (str, os.PathLike)) else tuple(self.data)
        object.__setattr__(self, "data", tuple(os.fspath(p) for p in data))
        if not self.data:
            raise ValueError("LatentTrainConfig.data needs at least one dataset folder")
        if self.select_metric not in METRIC_INFO:
            raise ValueError(f"unknown select_metric {self.select_metric!r}; choose one of {sorted(METRIC_INFO)}")
        super().__post_init__()  # the loop fields


def _load_generator(name: str, device: torch.device) -> nn.Module:
    generator = eg3d.load(name, device=device).eval()
    for param in generator.parameters():
        param.requires_grad_(False)
    return generator


def _w_avg(generator: nn.Module) -> torch.Tensor:
    return generator.backbone.mapping.w_avg.detach().float().cpu()


class LatentTask:
    """A :class:`helpers.training.training_loop.TrainingTask` for a latent encoder. Making one checks every sample of
    the train and val splits (:func:`helpers.training.sample_check.screen_datasets`); :attr:`excluded_samples` are the
    samples left out."""

    epoch_metrics = EPOCH_METRICS

    def __init__(self, config: LatentTrainConfig, *, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.generator = _load_generator(config.generator, self.device)
        resolution = int(self.generator.neural_rendering_resolution)
        base = DepthDatasetConfig(image_size=config.encoder.input_size, depth_size=resolution, splits=config.splits,
                                  missing="skip")  # the check lists the samples left out
        train = LatentDataset(config.data, dataclasses.replace(base, split="train", augment=config.augment))
        if len(train) == 0 and not train.known_bad():
            raise ValueError(f"the train split of {', '.join(config.data)} is empty")
        rank, _, _ = distributed_environment()
        (self.train_set, self.val_set), self.excluded_samples = screen_datasets(
            [train, train.with_config(split="val", augment=None)], config.out, skip_bad=config.skip_bad,
            progress=config.progress and rank == 0, log=log, main=rank == 0)
        if len(self.train_set) == 0:
            raise ValueError(f"no sample of the train split of {', '.join(config.data)} can be read: fix the files "
                             f"listed in {Path(config.out) / 'bad_samples.txt'}")
        if self.train_set.w_dim != config.encoder.w_dim:
            raise ValueError(f"the data's latents have {self.train_set.w_dim} dimensions, the encoder "
                             f"{config.encoder.w_dim}")
        self.select_metric = config.select_metric
        self.select_mode = metric_mode(config.select_metric)

    def build_model(self) -> nn.Module:
        return LatentEncoder(self.config.encoder, _w_avg(self.generator))

    def describe(self) -> str:
        e, loss = self.config.encoder, self.config.loss
        depth = f" + {loss.depth_weight}·depth" if loss.depth_weight else ""
        return f"latent encoder {e.backbone} ({'W+' if e.wplus else 'w'}, loss {loss.kind}{depth}) on " \
               f"{', '.join(self.config.data)}"

    def latent_loss(self, pred: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        target = w[:, None, :] if pred.ndim == 3 else w
        diff = pred.float() - target.float()
        return diff.abs().mean() if self.config.loss.kind == "l1" else (diff ** 2).mean()

    def loss(self, net: nn.Module, batch: Mapping[str, Any], device: torch.device) -> torch.Tensor:
        images = batch["image"].to(device, non_blocking=True)
        w = batch["w"].to(device, non_blocking=True)
        encoder = net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net
        pred = net(encoder.normalize(images)).float()
        loss = self.latent_loss(pred, w)
        if self.config.loss.depth_weight:
            depth = render_depth(self.generator, encoder.ws(pred), batch["camera"].to(device))
            truth, mask = batch["depth"].to(device), batch["mask"].to(device)
            error = torch.where(mask, (depth - truth).abs(), torch.zeros_like(depth))
            loss = loss + self.config.loss.depth_weight * error.sum() / mask.sum().clamp(min=1)
        return loss

    def evaluate(self, model: nn.Module, *, batch_size: int, workers: int, precision: str,
                 progress: bool) -> tuple[MetricsTable, float]:
        return evaluate_latents(encoder_predictor(model), self.val_set, self.generator,
                                num_ws=self.config.encoder.num_ws, device=self.device, batch_size=batch_size,
                                workers=workers, precision=precision, limit=self.config.val_batches,
                                progress=progress, loss=self.latent_loss)

    def model_checkpoint(self, model: nn.Module) -> dict[str, Any]:
        return encoder_checkpoint(model)  # type: ignore[arg-type]


def evaluate_baselines(task: LatentTask, *, progress: bool = False) -> dict[str, MetricsTable]:
    """The val metrics of the two constant baselines: ``w_avg`` and the train split's mean w."""
    num_ws = task.config.encoder.num_ws
    mean_w = torch.from_numpy(task.train_set.mean_w())
    return {name: evaluate_latents(constant_predictor(w), task.val_set, task.generator, num_ws=num_ws,
                                   device=task.device, limit=task.config.val_batches, progress=progress)[0]
            for name, w in (("w_avg baseline", _w_avg(task.generator)), ("mean-w baseline", mean_w))}


def train_latent(config: LatentTrainConfig, *, log: Callable[[str], None] = print,
                 on_step: Callable[[int, float], None] | None = None) -> tuple[TrainResult, dict[str, MetricsTable]]:
    """Train (or resume) an encoder, then score the baselines on the same val split.

    Returns ``(result, tables)``: ``tables`` maps "encoder", "w_avg baseline" and "mean-w baseline" to their val
    tables (the encoder's of ``best.pt``); the comparison is also written to ``<out>/baselines.md`` and logged.
    """
    resolve_device(config.device)  # a missing GPU stops the run before anything is written
    with run_folder_lock(config.out, "train-latent"):  # the check, the training and the baselines
        return _train_latent(config, log=log, on_step=on_step)


def _train_latent(config: LatentTrainConfig, *, log: Callable[[str], None],
                  on_step: Callable[[int, float], None] | None) -> tuple[TrainResult, dict[str, MetricsTable]]:
    task = LatentTask(config, log=log)
    result = run_training(task, config, {**config.as_dict(), "excluded_samples": task.excluded_samples}, log=log,
                          on_step=on_step)
    rank, _, _ = distributed_environment()
    if result.interrupted or rank != 0:
        return result, {}
    tables = evaluate_baselines(task, progress=config.progress)
    best = result.best_table
    if best is None:  # best.pt came from an earlier process: score it again

        encoder = load_latent_encoder(result.best_checkpoint, device=task.device)
        best = evaluate_latents(encoder_predictor(encoder), task.val_set, task.generator,
                                num_ws=config.encoder.num_ws, device=task.device, limit=config.val_batches,
                                progress=False)[0]
    tables = {"encoder": best, **tables}
    keys = ["latent_l1", "latent_l2", "ws_l1", "abs_rel", "mae", "rmse", "delta1"]
    text = compare_markdown(tables, keys=keys)
    write_text_atomic(Path(config.out) / "baselines.md", text + "\n")
    log(text)
    ours = tables["encoder"].mean()["latent_l1"]
    ratios = {name: ours / tables[name].mean()["latent_l1"] for name in ("w_avg baseline", "mean-w baseline")}
    if all(math.isfinite(r) for r in ratios.values()):
        # The mean-w line tells whether the encoder reads anything from the images beyond the data's mean latent.
        log("latent L1: " + ", ".join(f"{100 * (1 - r):.1f}% below the {name}" for name, r in ratios.items()))
    return result, tables


# ------------------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, e = LatentTrainConfig(data=("_",), out="_"), LatentEncoderConfig()
    parser.add_argument("data", nargs="+", help="dataset folders with latents (generate, or the published set)")
    parser.add_argument("--out", required=True, help="run folder (an existing run there is resumed)")
    parser.add_argument("--generator", default=d.generator, help="EG3D checkpoint the data came from")
    parser.add_argument("--backbone", default=e.backbone, choices=("resnet", "dinov2-small", "tiny-random-dinov2"))
    parser.add_argument("--input-size", type=int, default=e.input_size)
    parser.add_argument("--width", type=int, default=e.width, help="ResNet width")
    parser.add_argument("--wplus", action="store_true", help="predict per-layer ws (W+ offsets)")
    parser.add_argument("--loss", choices=("l1", "l2"), default="l1")
    parser.add_argument("--depth-weight", type=float, default=0.0, help="rendered-depth L1 term weight")
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lr", type=float, default=d.optim.lr)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--precision", default=d.precision, choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--device", default=d.device)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    parser.add_argument("--eval-every", type=int, default=d.eval_every)
    parser.add_argument("--val-batches", type=int, default=None)
    parser.add_argument("--skip-bad", action="store_true",
                        help="train without the samples whose files are missing or do not decode (listed in "
                             "OUT/bad_samples.txt) instead of stopping")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    encoder = LatentEncoderConfig(backbone=args.backbone, input_size=args.input_size, width=args.width,
                                  wplus=args.wplus)
    config = LatentTrainConfig(
        data=tuple(args.data), out=args.out, generator=args.generator, encoder=encoder,
        loss=LatentLossConfig(kind=args.loss, depth_weight=args.depth_weight),
        augment=None if args.no_augment else AugmentConfig(), epochs=args.epochs, max_steps=args.max_steps,
        batch_size=args.batch_size, optim=OptimConfig(lr=args.lr), precision=args.precision, device=args.device,
        workers=args.workers, seed=args.seed, checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
        val_batches=args.val_batches, skip_bad=args.skip_bad, progress=not args.no_progress)
    result, _ = train_latent(config)
    return 130 if result.interrupted else 0
