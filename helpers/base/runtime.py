"""Where and how a job runs: device choice, mixed precision, torchrun (distributed) environment, and the C
allocator's handling of large freed blocks (CPU jobs)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
from collections.abc import Iterator

import torch

from helpers.base.errors import UserError

#: Precision names → autocast dtype (None: float32, autocast off).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; ``"cuda"``: ``cuda:LOCAL_RANK`` (0 outside torchrun), as
    ``"auto"`` on a GPU; other names as given.

    Raises:
        UserError: an unknown device name, or CUDA asked for where this torch has no GPU (a CPU build, no driver,
            an index past the last GPU).
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device {device!r}", "use auto, cpu, cuda or cuda:N (e.g. cuda:1)") from None
    if resolved.type != "cuda":
        return resolved
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            raise UserError(f"CUDA was asked for ({device}) but this torch has no GPU support "
                            f"(torch {torch.__version__})",
                            "use --device cpu or auto, or install a CUDA build of torch")
        raise UserError(f"CUDA was asked for ({device}) but no GPU is visible (torch {torch.__version__})",
                        "use --device cpu or auto, or check the NVIDIA driver and CUDA_VISIBLE_DEVICES")
    index = resolved.index if resolved.index is not None else int(os.environ.get("LOCAL_RANK", "0"))
    if index >= torch.cuda.device_count():
        raise UserError(f"CUDA device {index} was asked for ({device}) but this machine has "
                        f"{torch.cuda.device_count()} GPU(s)", "use --device cuda:N with N below that, or cuda")
    return torch.device("cuda", index)


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


#: glibc ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Environment variable that turns :func:`keep_freed_memory` off in the command line (``HELPERS_KEEP_FREED_MEMORY=0``).
KEEP_FREED_MEMORY_ENV = "HELPERS_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Let glibc keep large freed blocks for reuse instead of returning them to the OS. True if applied.

    By default glibc serves every block above 32 MiB with its own ``mmap`` and unmaps it on free, so each large
    CPU tensor (a 128-channel 512² activation is 128 MiB) comes back as fresh pages that the kernel faults in and
    zeroes, every image, every step. Raising the mmap and trim thresholds (to 1 GiB and 2 GiB) keeps them in the
    heap: on 2 cores, full-size EG3D generation ran 0–19 % faster (A/B runs) and a PTI step about 30 % faster
    (benchmarks/RESULTS.md).
    The process keeps its peak memory instead of shrinking between steps. Process-wide, so the command line calls it
    (not the library). GPU memory is unaffected (PyTorch caches it already). No-op outside glibc (macOS, musl).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; its value is a C int, so 2 GiB is the largest trim threshold it can set.
    return bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
