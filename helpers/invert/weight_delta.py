"""A tuned generator stored as a compact weight delta against its base checkpoint.

Pivotal tuning changes every weight a little. Storing ``tuned − base`` for the tensors that changed,
in float16, takes half the size of a float32 checkpoint and says which base it needs: the file's
metadata records the base checkpoint's identity (name and sha256, see
:func:`helpers.eg3d.checkpoint_identity`) and :func:`apply_weight_delta` refuses a different base.
The float16 rounding of a delta is about 1e-3 of the delta itself, far below what tuning changes.

Format: a ``.safetensors`` file whose tensors are named like the generator's state dict, with
metadata ``{"format": "eg3d-face-toolkit/weight-delta", "version": "1", "dtype": ..., "base": JSON}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.base.atomic import atomic_path

__all__ = ["FORMAT", "apply_weight_delta", "load_weight_delta", "save_weight_delta", "weight_delta"]

FORMAT = "eg3d-face-toolkit/weight-delta"
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def weight_delta(base: nn.Module, tuned: nn.Module) -> dict[str, torch.Tensor]:
    """``tuned − base`` (float32, CPU) for every floating-point state entry that differs."""
    base_state = base.state_dict()
    delta = {}
    for name, value in tuned.state_dict().items():
        if name not in base_state:
            raise ValueError(f"tuned generator has {name!r}, which the base does not: not the same architecture")
        if not value.is_floating_point():
            continue
        diff = value.detach().float().cpu() - base_state[name].detach().float().cpu()
        if diff.abs().max() > 0:
            delta[name] = diff
    return delta


def save_weight_delta(delta: dict[str, torch.Tensor], path: str | os.PathLike[str], *,
                      base: dict[str, Any] | None = None, dtype: str = "float16") -> Path:
    """Write ``delta`` to ``path`` (.safetensors) atomically, in ``dtype`` (float16, bfloat16 or float32)."""
    from safetensors.torch import save_file

    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    tensors = {name: t.to(_DTYPES[dtype]).contiguous() for name, t in delta.items()}
    metadata = {"format": FORMAT, "version": "1", "dtype": dtype, "base": json.dumps(base or {}, sort_keys=True)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def load_weight_delta(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(float32 delta tensors, base identity) from a file written by :func:`save_weight_delta`."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{path} is not a weight delta written by this toolkit (metadata {metadata})")
        tensors = {name: handle.get_tensor(name).float() for name in handle.keys()}
    return tensors, json.loads(metadata.get("base", "{}"))


def _same_base(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    if expected.get("sha256") and actual.get("sha256"):
        return expected["sha256"] == actual["sha256"]
    return expected.get("checkpoint") == actual.get("checkpoint")


def apply_weight_delta(base: nn.Module, path: str | os.PathLike[str], *, base_identity: dict[str, Any] | None = None
                       ) -> nn.Module:
    """A copy of ``base`` with the delta at ``path`` added. If ``base_identity`` is given and the file
    names another base checkpoint, raises ValueError (the delta only makes sense on its own base)."""
    import copy

    delta, recorded = load_weight_delta(path)
    if base_identity is not None and recorded and not _same_base(recorded, base_identity):
        raise ValueError(f"{path} was tuned from {recorded.get('checkpoint')!r} (sha256 {recorded.get('sha256')}), "
                         f"not from {base_identity.get('checkpoint')!r}: load that checkpoint as the base")
    tuned = copy.deepcopy(base)
    state = tuned.state_dict()
    missing = sorted(set(delta) - set(state))
    if missing:
        raise ValueError(f"{path} changes tensors the generator does not have ({missing[:5]}): another architecture")
    with torch.no_grad():
        for name, diff in delta.items():
            if state[name].shape != diff.shape:
                raise ValueError(f"{path}: {name} has shape {tuple(diff.shape)}, the generator {tuple(state[name].shape)}")
            state[name].add_(diff.to(state[name].device, state[name].dtype))
    return tuned
