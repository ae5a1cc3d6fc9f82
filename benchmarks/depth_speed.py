"""Depth model speed: training samples/s and inference images/s per model, CPU and GPU, plus end-to-end training.

    python benchmarks/depth_speed.py --quick                       # tiny random models, seconds: does it work?
    python benchmarks/depth_speed.py                               # default models, CPU (+ GPU when available)
    python benchmarks/depth_speed.py --device cuda --models attention_unet dpt-large@128 dpt-large \\
        dpt-hybrid-midas depth-anything-v2-small                   # all models on the GPU

Models are given as ``name`` or ``name@input_size`` (names of :mod:`helpers.depth.models`: ``attention_unet``,
``dpt-large``, ``dpt-hybrid-midas``, ``depth-anything-v2-small``, ``tiny-random-dpt``,
``tiny-random-depth-anything``). Defaults: the original's 128² Attention U-Net (start_filts 32, 5 blocks), DPT-Large
at 128 (the original's MiDaS fine-tuning setup: ViT-L/16 on an 8×8 token grid), DPT-Large at its native 384 and
Depth-Anything-V2-Small at 518. Measured per model and device, with the library's own code paths:

* **training samples/s (model only)**: one step of the shared training loop,
  ``helpers.training.training_loop.train_step`` (what :func:`helpers.training.training_loop.run_training` calls per
  batch: autocast forward through :class:`helpers.depth.depth_training.DepthTask`'s loss at the model's input size,
  the default loss of the model's target on 128² metric z-depth, backward, gradient clipping at 1.0, Adam step from
  :func:`helpers.training.training_config.build_optimizer`), on one fixed synthetic loader batch (pinned on GPUs, as
  the loader's) and ``float(loss)`` after each step, as the loop does. (The ``DepthTask`` is
  built on a tiny head dataset that is never read.) ``--warmup`` steps, then ``--repeats`` timings of ``--steps``
  steps, median.
* **inference images/s**: ``model.predict(images)`` on uint8 ``--image-size``² images already on the device
  (resized to the model's input inside ``predict``), under ``helpers.base.runtime.autocast`` of the device's precision
  (``resolve_precision("auto")``: bf16 / fp16 on GPUs, fp32 on the CPU); same warm-up / repeats / median.
* **end-to-end training** (``--skip-e2e`` to leave out): a head dataset of
  :func:`helpers.generation.head_dataset.write_head_dataset` (``--e2e-count`` analytic heads, by default 8 batches'
  worth; ``--e2e-image-size``² images, 512 as EG3D's; 128² depth; written once, not timed) trained with
  :func:`helpers.depth.depth_training.train_depth` for ``--e2e-steps`` steps (``--e2e-model``, default augmentations,
  ``--workers`` loader processes), without and with ``cache=True``. Its ``train_log.csv`` is written every step; the
  figure is the median of the per-step ``samples_per_s`` after ``--e2e-warmup`` steps (their mean, which includes the
  epoch ends of the small dataset, in brackets). Each run comes right after the model-only figure of the same model
  and batch (paired: other jobs change the machine's speed over minutes). For reference the table also gives the
  loader alone: the train split's item time in the main process (``dataset[(index, seed)]``, median) and items/s of
  :func:`helpers.training.seeded_loader.make_loader` with the same workers and no model, after its first batch.
  End-to-end ≈ model-only means the loader keeps up; the loader-alone rate is what a faster device could get at most
  from these workers.

Public backbones are built offline with random weights (weights do not change the speed) from the
``config.json`` fields in :data:`ARCHITECTURES` through ``TransformerDepthModel(config, architecture=...)``; the table
prints each model's parameter count to check them (DPT-Large 343.0M, DPT-Hybrid 122.4M, Depth-Anything-V2-Small
24.8M). ``--online`` builds them from the Hub's ``config.json`` instead (:func:`helpers.depth.models.build_depth_model`
with ``pretrained=False``: downloads only the config).

The script prints a Markdown header (machine, torch and transformers versions, date, command) and tables that can
be pasted into ``benchmarks/RESULTS.md``. Absolute numbers only hold on the machine they were measured on; other
jobs on the machine slow them down (the load average is printed), hence medians.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gc
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import (  # noqa: E402 (this folder: run as a script)
    add_allocator_option,
    apply_allocator_option,
    loadavg,
    machine_text,
    timed,
)

from helpers.base.runtime import autocast, resolve_precision
from helpers.depth.depth_training import DepthTask, TrainConfig, train_depth
from helpers.depth.models import DepthModelConfig, build_depth_model
from helpers.depth.networks.dpt import TransformerDepthModel
from helpers.depth.networks.dpt_config import BACKBONES
from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset
from helpers.training.seeded_loader import make_loader
from helpers.training.training_config import OptimConfig, build_optimizer
from helpers.training.training_loop import train_step

#: Architectures of the public backbones: the fields of their Hub ``config.json`` that differ from the defaults of
#: ``transformers``' ``DPTConfig`` / ``DepthAnythingConfig`` (5.x), plus DPT's ``readout_type`` (the default today,
#: written out so that the architecture does not follow a change of default). Sources: the config.json of
#: ``Intel/dpt-large`` (ViT-L/16, hooks at layers 5, 11, 17, 23), ``Intel/dpt-hybrid-midas`` (ViT-hybrid: DPTConfig's
#: default BiT-R50 stem for ``is_hybrid`` + ViT-B/16, reassemble factors 1, 1, 1, 0.5) and
#: ``depth-anything/Depth-Anything-V2-Small-hf`` (DINOv2-S/14 at 518 with out_indices 3, 6, 9, 12: V2's, V1 used
#: 9-12; the whole backbone dict is given because a dict replaces DepthAnythingConfig's default one), as written by
#: transformers' conversion scripts. Built with random weights: 343.0M, 122.4M and 24.8M parameters (the Hub pages
#: say 343M, 123M, 24.8M).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "dpt-large": {
        "model_type": "dpt", "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
        "intermediate_size": 4096, "backbone_out_indices": [5, 11, 17, 23], "neck_hidden_sizes": [256, 512, 1024, 1024],
        "readout_type": "project",
    },
    "dpt-hybrid-midas": {
        "model_type": "dpt", "is_hybrid": True, "reassemble_factors": [1, 1, 1, 0.5],
        "neck_hidden_sizes": [256, 512, 768, 768], "readout_type": "project",
    },
    "depth-anything-v2-small": {
        "model_type": "depth_anything",
        "backbone_config": {"model_type": "dinov2", "hidden_size": 384, "num_attention_heads": 6, "image_size": 518,
                            "out_indices": [3, 6, 9, 12], "reshape_hidden_states": False},
    },
}

DEFAULT_MODELS = ("attention_unet", "dpt-large@128", "dpt-large", "depth-anything-v2-small")
QUICK_MODELS = ("tiny-random-dpt", "tiny-random-depth-anything")
DEPTH_SIZE = 128  # the original's depth maps

#: Default (train, inference) batch sizes per device kind and model; CPU sizes keep the default run short on 2 cores.
GPU_BATCH = (8, 16)
CPU_BATCH = {"attention_unet": (8, 8), "dpt-large@128": (4, 8), "dpt-large": (1, 2), "dpt-hybrid-midas": (1, 2),
             "depth-anything-v2-small": (1, 2)}
CPU_BATCH_OTHER = (4, 8)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A model of the benchmark: ``name`` or ``name@input_size`` on the command line."""

    text: str
    name: str
    input_size: int | None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        name, _, size = text.partition("@")
        return cls(text, name, int(size) if size else None)

    def config(self, target: str) -> DepthModelConfig:
        if self.name == "attention_unet" and target == "relative_inverse":
            target = "metric_z"
        if self.name != "attention_unet" and self.name in BACKBONES and BACKBONES[self.name].hf_id is not None:
            pretrained: bool | None = False  # speed does not depend on the weights: never download them
        else:
            pretrained = None
        return DepthModelConfig(name=self.name, target=target, input_size=self.input_size,  # type: ignore[arg-type]
                                pretrained=pretrained)


def build_model(config: DepthModelConfig, online: bool) -> torch.nn.Module:
    """The network of ``config``: :func:`build_depth_model`, or offline (public backbones) the same architecture
    from :data:`ARCHITECTURES` with random weights."""
    if config.is_unet or online or config.name not in ARCHITECTURES:
        return build_depth_model(config)
    model = TransformerDepthModel(config.transformer_config(pretrained=False), architecture=ARCHITECTURES[config.name])
    if config.freeze_backbone:
        model.freeze_backbone()
    return model.train()


def default_batches(spec: ModelSpec, device: torch.device, args: argparse.Namespace) -> tuple[int, int]:
    train, infer = GPU_BATCH if device.type == "cuda" else CPU_BATCH.get(spec.text, CPU_BATCH_OTHER)
    return args.batch_size or train, args.infer_batch_size or infer


def synthetic_batch(batch_size: int, input_size: int, generator: torch.Generator, pin: bool) -> dict[str, Any]:
    """A loader batch (the keys :meth:`DepthTask.loss` reads, and ``id``): RGB in [0, 1], metric z around EG3D's camera
    distance inside a mask, 0 outside."""
    image = torch.rand(batch_size, 3, input_size, input_size, generator=generator)
    mask = torch.rand(batch_size, 1, DEPTH_SIZE, DEPTH_SIZE, generator=generator) < 0.6
    depth = torch.where(mask, 2.6 + 0.2 * torch.rand(mask.shape, generator=generator), torch.zeros(()))
    batch = {"image": image, "depth": depth, "mask": mask}
    if pin:
        batch = {k: v.pin_memory() for k, v in batch.items()}
    batch["id"] = [f"synthetic{i:08d}" for i in range(batch_size)]
    return batch


def probe_task(config: DepthModelConfig, data: Path, tmp: Path) -> DepthTask:
    """The :class:`DepthTask` that :func:`train_depth` would use for ``config`` (its loss: normalisation, forward,
    resize to the depth size, the target's default loss); its datasets (``data``, a tiny head set) go unused."""
    return DepthTask(TrainConfig(data=(str(data),), out=str(tmp / "unused"), model=config, depth_size=DEPTH_SIZE),
                     progress=False)


def measure_train(model: torch.nn.Module, task: DepthTask, device: torch.device, precision: str, batch_size: int,
                  args: argparse.Namespace) -> tuple[float, list[float], float | None]:
    """Median training samples/s of the training loop's step on a synthetic batch, the per-repeat times (s per step)
    and the peak GPU memory (GiB; None on the CPU)."""
    opt = OptimConfig()
    optimizer = build_optimizer(model, opt)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    batch = synthetic_batch(batch_size, task.config.model.resolved_input_size, torch.Generator().manual_seed(0),
                            pin=device.type == "cuda")
    model.train()

    def steps(n: int) -> None:
        for _ in range(n):
            float(train_step(task, model, optimizer, scaler, batch, device=device, precision=precision,
                              grad_clip=opt.grad_clip))  # run_training reads every loss

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    steps(args.warmup)
    per_step = [timed(lambda: steps(args.steps), device) / args.steps for _ in range(args.repeats)]
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    optimizer.zero_grad(set_to_none=True)
    return batch_size / statistics.median(per_step), per_step, peak


def measure_inference(model: torch.nn.Module, device: torch.device, precision: str, batch_size: int,
                      args: argparse.Namespace) -> tuple[float, list[float]]:
    """Median images/s of ``model.predict`` on uint8 images on ``device`` and the per-repeat s per batch."""
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (batch_size, 3, args.image_size, args.image_size), dtype=torch.uint8,
                           generator=generator).to(device)

    def batches(n: int) -> None:
        for _ in range(n):
            with autocast(device, precision):
                model.predict(images)

    batches(args.warmup)
    per_batch = [timed(lambda: batches(args.steps), device) / args.steps for _ in range(args.repeats)]
    return batch_size / statistics.median(per_batch), per_batch


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def bench_model(spec: ModelSpec, device: torch.device, args: argparse.Namespace, *, train_bs: int | None = None,
                infer: bool = True) -> dict[str, Any]:
    """Training and inference figures of one model on one device (a row of the model table)."""
    config = spec.config(args.target)
    precision = resolve_precision(args.precision, device)
    default_train, infer_bs = default_batches(spec, device, args)
    train_bs = train_bs or default_train
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = build_model(config, args.online).to(device)
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    row: dict[str, Any] = {"model": spec.text, "name": config.name, "input": config.resolved_input_size,
                           "params": params, "device": device, "precision": precision, "train_bs": train_bs,
                           "infer_bs": infer_bs, "timing": (args.warmup, args.repeats, args.steps),
                           "loads": [loadavg()]}
    print(f"{spec.text} on {device}: {params / 1e6:.1f}M parameters, input {config.resolved_input_size}², "
          f"{precision}, built in {build_s:.1f} s (load {loadavg():.2f})", flush=True)
    if not args.skip_train:
        task = probe_task(config, args.probe_data, args.tmp_path)
        rate, per_step, peak = measure_train(model, task, device, precision, train_bs, args)
        row.update(train=rate, train_steps=per_step, train_peak=peak)
        print(f"  train  batch {train_bs:3d}: {rate:9.2f} samples/s  (s per step: "
              f"{', '.join(f'{t:.3f}' for t in per_step)}; load {loadavg():.2f})", flush=True)
    free(device)
    if infer and not args.skip_infer:
        rate, per_batch = measure_inference(model, device, precision, infer_bs, args)
        row.update(infer=rate, infer_batches=per_batch)
        print(f"  infer  batch {infer_bs:3d}: {rate:9.2f} images/s   (s per batch: "
              f"{', '.join(f'{t:.3f}' for t in per_batch)}; load {loadavg():.2f})", flush=True)
    del model
    free(device)
    row["loads"].append(loadavg())
    return row


# --------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------


def train_log_rates(out: Path, skip: int) -> tuple[float, float, int]:
    """Median and mean samples/s of the rows of ``<out>/train_log.csv`` after the first ``skip`` (one row per step, so
    the mean over equal batches is the harmonic mean of the rates) and the number of rows used."""
    with open(out / "train_log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rates = [float(r["samples_per_s"]) for r in rows[skip:]]
    if not rates:
        raise RuntimeError(f"{out}/train_log.csv has {len(rows)} rows: raise --e2e-steps above --e2e-warmup")
    return statistics.median(rates), statistics.harmonic_mean(rates), len(rates)


def loader_figures(train_config: TrainConfig, batches: int) -> tuple[float, float]:
    """The loader alone on ``train_config``'s train split, as training reads it (its cache when ``cache`` is on):
    median ms per item in the main process (``dataset[(index, seed)]``) and items/s of :func:`make_loader` with the
    config's workers after its first batch."""
    train_set = DepthTask(train_config, progress=False).train_set
    n = min(len(train_set), 32)
    train_set[(0, 0)]  # imports, first file
    item_ms = statistics.median(timed(lambda i=i: train_set[(i, 1000 + i)], torch.device("cpu")) * 1e3
                                for i in range(n))
    loader = make_loader(train_set, train_config.batch_size, shuffle=True, workers=train_config.workers,
                         seed=train_config.seed, drop_last=True)
    got, t_first = 0, None
    while got <= batches:
        for batch in loader:
            if t_first is None:
                t_first, items = time.perf_counter(), 0
            else:
                items += len(batch["id"])
            got += 1
            if got > batches:
                break
    rate = items / (time.perf_counter() - t_first)
    del loader
    return item_ms, rate


def write_e2e_data(args: argparse.Namespace) -> Path:
    t0 = time.perf_counter()
    data = write_head_dataset(args.tmp_path / "heads", HeadDatasetConfig(
        count=args.e2e_count, image_size=args.e2e_image_size, depth_size=DEPTH_SIZE, steps=args.e2e_render_steps),
        progress=False)
    print(f"head dataset: {args.e2e_count} samples, images {args.e2e_image_size}², depth {DEPTH_SIZE}², written in "
          f"{time.perf_counter() - t0:.1f} s (not timed)", flush=True)
    return data


def e2e_batch(device: torch.device, args: argparse.Namespace) -> int:
    return args.e2e_batch_size or ((args.batch_size or GPU_BATCH[0]) if device.type == "cuda" else 4)


def bench_e2e(device: torch.device, args: argparse.Namespace, data: Path, tmp: Path) -> list[dict[str, Any]]:
    """``train_depth`` on ``data`` without and with the cache; each run right after the model-only figure of the same
    model and batch (paired, as other jobs on the machine change the speed over minutes)."""
    spec = ModelSpec.parse(args.e2e_model)
    config = spec.config(args.target)
    batch_size = e2e_batch(device, args)
    rows = []
    for cache in (False, True):
        load_before = loadavg()
        model_only = bench_model(spec, device, args, train_bs=batch_size, infer=False)["train"]
        out = tmp / f"run-{device.type}-{'cache' if cache else 'nocache'}"
        train_config = TrainConfig(
            data=(str(data),), out=str(out), model=config, depth_size=DEPTH_SIZE, epochs=10**6,
            max_steps=args.e2e_steps, batch_size=batch_size, precision=args.precision, device=str(device),
            workers=args.workers, cache=cache, seed=0, checkpoint_every=0, eval_every=10**6, val_batches=1,
            log_every=1, progress=False)
        t0 = time.perf_counter()
        result = train_depth(train_config, log=lambda msg: print(f"  [train_depth] {msg}", flush=True))
        wall = time.perf_counter() - t0
        median, mean, used = train_log_rates(out, args.e2e_warmup)
        item_ms, loader_rate = loader_figures(train_config, args.e2e_loader_batches)
        row = {"device": device, "model": spec.text, "batch": batch_size, "workers": args.workers, "cache": cache,
               "image": args.e2e_image_size, "count": args.e2e_count, "steps": result.steps, "used": used,
               "e2e": median, "e2e_mean": mean, "model_only": model_only, "item_ms": item_ms,
               "loader": loader_rate, "wall": wall, "loads": (load_before, loadavg())}
        rows.append(row)
        print(f"  e2e {spec.text} batch {batch_size} cache={cache}: {median:.2f} samples/s (median of {used} steps; "
              f"mean {mean:.2f}), model only {model_only:.2f}; loader alone {loader_rate:.1f} items/s, "
              f"{item_ms:.1f} ms per item in the main process; run {wall:.1f} s (load {loadavg():.2f})", flush=True)
    return rows


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------





def fmt(value: float | None, digits: int | None = None) -> str:
    """A rate with about three significant digits (``digits``: fixed decimals instead)."""
    if value is None:
        return "–"
    if digits is not None:
        return f"{value:.{digits}f}"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def print_report(args: argparse.Namespace, devices: list[torch.device], rows: list[dict[str, Any]],
                 e2e_rows: list[dict[str, Any]], loads: list[float]) -> None:
    import transformers

    command = "python benchmarks/depth_speed.py" + ("" if len(sys.argv) == 1 else " " + shlex.join(sys.argv[1:]))
    print("\n| machine | torch | date | command |")
    print("|---|---|---|---|")
    print(f"| {machine_text(devices)}, load {min(loads):.1f}–{max(loads):.1f} | {torch.__version__}, transformers "
          f"{transformers.__version__} | {datetime.date.today().isoformat()} | `{command}` |")
    if rows:
        timing = "; ".join(sorted({f"{r['device'].type}: {w} warm-up, median of {n} × {k}" for r in rows
                                   for w, n, k in [r["timing"]]}))
        print(f"\nModel only (synthetic batch, depth {DEPTH_SIZE}², target {args.target}; inference on uint8 "
              f"{args.image_size}² images; steps or batches per timing, {timing}; best = the fastest timing; load = "
              "1-min load average before and after the row):\n")
        print("| model | input | parameters | device | precision | train batch | train samples/s (best) | s per step | "
              "GPU peak (train) | infer batch | infer images/s (best) | load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            train = infer = step = "–"
            if r.get("train"):
                step = fmt(r["train_bs"] / r["train"], 3)
                train = f"{fmt(r['train'])} ({fmt(r['train_bs'] / min(r['train_steps']))})"
            if r.get("infer"):
                infer = f"{fmt(r['infer'])} ({fmt(r['infer_bs'] / min(r['infer_batches']))})"
            peak = f"{r['train_peak']:.1f} GiB" if r.get("train_peak") is not None else "–"
            print(f"| {r['model']} | {r['input']}² | {r['params'] / 1e6:.1f}M | {r['device'].type} | {r['precision']} | "
                  f"{r['train_bs']} | {train} | {step} | {peak} | {r['infer_bs']} | {infer} | "
                  f"{min(r['loads']):.1f}–{max(r['loads']):.1f} |")
    if e2e_rows:
        first = e2e_rows[0]
        print(f"\nEnd to end (`train_depth`, {first['count']} analytic heads at {first['image']}², default "
              f"augmentations, {first['workers']} loader workers; median per-step samples/s of `train_log.csv` after "
              f"{args.e2e_warmup} warm-up steps, mean in brackets; loader alone: same split and workers, no model):\n")
        print("| device | model | batch | cache | end-to-end samples/s | model only samples/s | end-to-end / model only | "
              "loader alone items/s | item in main process | load |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in e2e_rows:
            print(f"| {r['device'].type} | {r['model']} | {r['batch']} | {'yes' if r['cache'] else 'no'} | "
                  f"{fmt(r['e2e'])} ({fmt(r['e2e_mean'])}) | {fmt(r['model_only'])} | "
                  f"{100 * r['e2e'] / r['model_only']:.0f}% | {fmt(r['loader'])} | {r['item_ms']:.1f} ms | "
                  f"{min(r['loads']):.1f}–{max(r['loads']):.1f} |")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=None,
                    help=f"name or name@input_size (default: {' '.join(DEFAULT_MODELS)}; --quick: "
                         f"{' '.join(QUICK_MODELS)})")
    ap.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                    help="all: the CPU, and the GPU when torch.cuda.is_available() (default: %(default)s)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help=f"training batch (default: {GPU_BATCH[0]} on GPUs; on the CPU per model, e.g. 8 for the "
                         "U-Net, 1 for ViT-L at 384)")
    ap.add_argument("--infer-batch-size", type=int, default=None,
                    help=f"inference batch (default: {GPU_BATCH[1]} on GPUs; on the CPU 2-8 per model)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats, median reported (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=None,
                    help="training steps / inference batches per repeat (default: 1 on the CPU, 10 on GPUs)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 1 CPU, 3 GPU)")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                    help="auto: bf16/fp16 on GPUs, fp32 on the CPU (helpers.base.runtime.resolve_precision)")
    ap.add_argument("--target", default="metric_z", choices=("metric_z", "original", "relative_inverse"),
                    help="model target: the head and default loss (default: %(default)s; the U-Net has no "
                         "relative_inverse and uses metric_z then)")
    ap.add_argument("--image-size", type=int, default=512, help="side of the images given to predict()")
    ap.add_argument("--online", action="store_true", help="build public backbones from the Hub's config.json")
    ap.add_argument("--quick", action="store_true", help="tiny random models and a tiny end-to-end run (seconds)")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-infer", action="store_true")
    ap.add_argument("--skip-e2e", action="store_true", help="no end-to-end train_depth runs")
    ap.add_argument("--e2e-model", default=None, help="model of the end-to-end runs (default: attention_unet; "
                                                      "--quick: tiny-random-dpt)")
    ap.add_argument("--e2e-count", type=int, default=None,
                    help="head dataset samples (default: 8 end-to-end batches, at least 16)")
    ap.add_argument("--e2e-batch-size", type=int, default=None,
                    help=f"end-to-end batch (default: --batch-size or {GPU_BATCH[0]} on GPUs, 4 on the CPU)")
    ap.add_argument("--e2e-image-size", type=int, default=None,
                    help="head dataset image side (default: 512, as EG3D's images; --quick 128)")
    ap.add_argument("--e2e-render-steps", type=int, default=16,
                    help="HeadDatasetConfig.steps: ray-march samples (speed of writing the data only)")
    ap.add_argument("--e2e-steps", type=int, default=None, help="train_depth steps per run (default: 20; --quick 8)")
    ap.add_argument("--e2e-warmup", type=int, default=None, help="first log rows left out (default: 3; --quick 2)")
    ap.add_argument("--e2e-loader-batches", type=int, default=None,
                    help="batches timed for the loader-alone figure (default: 20; --quick 6)")
    ap.add_argument("--workers", type=int, default=2, help="loader processes of the end-to-end runs")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--tmp", default=None, help="scratch folder (default: system temp)")
    add_allocator_option(ap)
    args = ap.parse_args()
    malloc = apply_allocator_option(args)

    if args.threads:
        torch.set_num_threads(args.threads)
    models = args.models or (QUICK_MODELS if args.quick else DEFAULT_MODELS)
    specs = [ModelSpec.parse(m) for m in models]
    for spec in specs:
        spec.config(args.target)  # clear errors before anything runs
    args.e2e_model = args.e2e_model or ("tiny-random-dpt" if args.quick else "attention_unet")
    args.e2e_image_size = args.e2e_image_size or (128 if args.quick else 512)
    args.e2e_steps = args.e2e_steps or (8 if args.quick else 20)
    args.e2e_warmup = args.e2e_warmup if args.e2e_warmup is not None else (2 if args.quick else 3)
    args.e2e_loader_batches = args.e2e_loader_batches or (6 if args.quick else 20)

    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if not devices:
        raise SystemExit("--device cuda: no GPU (torch.cuda.is_available() is False)")

    print(f"machine: {machine_text(devices)}; torch {torch.__version__}; {malloc}; load "
          f"{Path('/proc/loadavg').read_text().strip() if Path('/proc/loadavg').exists() else '?'}", flush=True)
    loads = [loadavg()]
    rows: list[dict[str, Any]] = []
    e2e_rows: list[dict[str, Any]] = []
    base = {k: getattr(args, k) for k in ("repeats", "steps", "warmup")}
    with tempfile.TemporaryDirectory(prefix="depth_speed-", dir=args.tmp) as tmp_name:
        args.tmp_path = Path(tmp_name)
        args.probe_data = write_head_dataset(args.tmp_path / "probe", HeadDatasetConfig(count=8, image_size=32,
                                                                                        steps=8), progress=False)
        e2e_data: Path | None = None
        if not args.skip_e2e:
            spec = ModelSpec.parse(args.e2e_model)
            if not (spec.name == "attention_unet" or spec.name not in ARCHITECTURES or args.online):
                raise SystemExit(f"--e2e-model {spec.text}: train_depth builds public backbones from the Hub: add "
                                 "--online, or use attention_unet or a tiny-random model")
            # the train split (~90 %) holds about 7 batches: few epoch ends in the run
            args.e2e_count = args.e2e_count or max(16, 8 * max(e2e_batch(d, args) for d in devices))
        for device in devices:
            gpu = device.type == "cuda"
            args.repeats = base["repeats"]
            args.steps = base["steps"] or (10 if gpu else 1)
            args.warmup = base["warmup"] if base["warmup"] is not None else (3 if gpu else 1)
            if not (args.skip_train and args.skip_infer):
                for spec in specs:
                    rows.append(bench_model(spec, device, args))
                    loads.append(loadavg())
            if not args.skip_e2e:
                if e2e_data is None:
                    e2e_data = write_e2e_data(args)
                e2e_rows += bench_e2e(device, args, e2e_data, args.tmp_path)
                loads.append(loadavg())
    print_report(args, devices, rows, e2e_rows, loads)


if __name__ == "__main__":
    main()
