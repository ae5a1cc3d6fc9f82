"""What every benchmark script measures around its figures: wall time with the GPU synchronised, the machine's load
average, a one-line description of the machine (the ``machine`` column of ``benchmarks/RESULTS.md``) and the
allocator set-up the command line uses."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from helpers.base.runtime import keep_freed_memory


def loadavg() -> float:
    """The 1-minute load average (NaN where /proc is missing): other jobs on the machine show up here."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_call(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """(seconds, result) of ``fn()``, synchronising the GPU before and after so queued work is counted."""
    synchronize(device)
    began = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - began, result


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of ``fn()`` (see :func:`timed_call`)."""
    return timed_call(fn, device)[0]


def paired_ratios(ours: Sequence[float], official: Sequence[float]) -> str:
    """The spread of a side-by-side comparison on a shared machine: each repeat ran ours and the official back to
    back, so each pair saw about the same disturbance. Median and range of official/ours per pair, and the ratio of
    the best (least disturbed) times."""
    ratios = sorted(o / u for u, o in zip(ours, official))
    return (f"median of paired ratios x{statistics.median(ratios):.2f} (range x{ratios[0]:.2f}..x{ratios[-1]:.2f}, "
            f"{len(ratios)} pairs); best times {min(ours):.2f} s vs {min(official):.2f} s -> "
            f"x{min(official) / min(ours):.2f}")


def machine_text(devices: Sequence[torch.device]) -> str:
    """Cores, CPU model, torch threads and version, and each CUDA device's name and memory."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = f"{cores}-core {cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    for device in devices:
        if device.type == "cuda":
            props = torch.cuda.get_device_properties(device)
            text += f"; {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    if not any(d.type == "cuda" for d in devices):
        text += "; no GPU" if not torch.cuda.is_available() else "; GPU not measured"
    return text


def add_allocator_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's default handling of large freed blocks (by default the script keeps them, "
                             "as `python -m helpers` does: helpers.base.runtime.keep_freed_memory; in a side-by-side "
                             "run the official code gets the same set-up)")


def apply_allocator_option(args: argparse.Namespace) -> str:
    """Apply ``--default-malloc`` (see :func:`add_allocator_option`); returns a few words for the report."""
    if args.default_malloc:
        return "malloc: glibc default"
    return "malloc: freed blocks kept" if keep_freed_memory() else "malloc: system default (not glibc)"
