"""Where and how a job runs: device choice, mixed precision, torchrun (distributed) environment."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

#: Precision names → autocast dtype (None: float32, autocast off).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when available (``cuda:LOCAL_RANK`` under torchrun), else the CPU; other names as given."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"``: bf16 on GPUs that support it (A100, H100), fp16 on older ones (T4, P100: Colab), fp32 on the CPU
    (CPU autocast is slower than float32 for convolutions on most CPUs). Other names are checked and returned."""
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {tuple(PRECISIONS)}, got {precision!r}")
    return precision


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """``torch.autocast`` for a resolved precision name (a no-op for fp32)."""
    dtype = PRECISIONS[precision]
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        yield


def distributed_environment() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment variables; ``(0, 1, 0)`` outside torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))
