"""The deterministic weight rule of ``tests/fixtures/midas_dpt_reference`` (see its README.md).

Both sides use it: the recording script (run with the original MiDaS code in a throwaway environment, which imports
this file by path) and the parity tests. It needs only numpy, so that it runs anywhere. No weights are stored: a
MiDaS-named state dict is regenerated from the key names and shapes.

Rule, per MiDaS key ``name`` of shape ``shape``: ``z = default_rng([seed, crc32(name)]).standard_normal(shape,
float32)``, then ``0.5·z`` for ``cls_token`` / ``pos_embed``, ``z / sqrt(prod(shape[1:]))`` for any other tensor of
two or more dimensions (fan-in scaling of linear, conv and transposed-conv weights), ``1 + 0.1·z`` for
one-dimensional ``weight`` tensors (the LayerNorm gains: DPT's ViT has no other 1-D weights) and ``0.1·z`` for the
rest (biases).
"""

from __future__ import annotations

import math
import os
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["reference_state", "reference_weight", "weight_summary"]


def reference_weight(name: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """The float32 array the rule gives the MiDaS key ``name`` of ``shape``."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    z = rng.standard_normal(tuple(shape), dtype=np.float32)
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ("cls_token", "pos_embed"):
        scale, shift = 0.5, 0.0
    elif len(shape) >= 2:
        scale, shift = 1.0 / math.sqrt(math.prod(shape[1:])), 0.0
    elif leaf == "weight":
        scale, shift = 0.1, 1.0
    else:
        scale, shift = 0.1, 0.0
    z *= np.float32(scale)
    if shift:
        z += np.float32(shift)
    return z


def reference_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """``{name: reference_weight(name, shape, seed)}`` for every key of ``shapes``, in its order (computed on a
    few threads: each key has its own generator, so the numbers do not depend on the scheduling)."""
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        arrays = pool.map(lambda item: reference_weight(item[0], item[1], seed), shapes.items())
        return dict(zip(shapes, arrays, strict=True))


def weight_summary(array: np.ndarray) -> list[float]:
    """``[first value, last value, sum in float64]``: recorded per key, so a test notices if numpy's generator
    ever produced other numbers than at recording time."""
    flat = array.reshape(-1)
    return [float(flat[0]), float(flat[-1]), float(flat.sum(dtype=np.float64))]
