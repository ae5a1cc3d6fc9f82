"""A tuned generator stored as a compact weight delta against its base checkpoint.

Pivotal tuning changes every weight a little. Storing ``tuned − base`` for the tensors that changed,
in float16, takes half the size of a float32 checkpoint and says which base it needs: the file's
metadata records the base checkpoint's identity (:func:`helpers.eg3d.checkpoint_identity`: name, file sha256 and,
for ``tiny-random``, the seed) and :func:`apply_weight_delta` refuses any other base, and a base whose identity is
unknown on either side, unless ``allow_other_base=True``. Files are read with the one safe loader
(:func:`helpers.base.weights_file.read_safetensors`). The float16 rounding of a delta is about 1e-3 of the delta.

Format: a ``.safetensors`` file whose tensors are named like the generator's state dict, with
metadata ``{"format": "eg3d-face-toolkit/weight-delta", "version": "1", "dtype": ..., "base": JSON}``.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers import eg3d
from helpers.base.atomic import save_safetensors_atomic
from helpers.base.errors import UserError
from helpers.base.weights_file import WeightsFileError, read_safetensors

__all__ = ["FORMAT", "WeightDeltaBaseError", "apply_weight_delta", "load_weight_delta", "same_base",
           "save_weight_delta", "weight_delta"]

FORMAT = "eg3d-face-toolkit/weight-delta"
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
_EXPECTED = "a .safetensors weight delta written by helpers.invert.weight_delta.save_weight_delta"


class WeightDeltaBaseError(UserError, ValueError):
    """A weight delta given a generator that is not (or not known to be) the base it was tuned from."""


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
    """Write ``delta`` to ``path`` (.safetensors) atomically, in ``dtype`` (float16, bfloat16 or float32).

    ``base`` is the base generator's identity (:func:`helpers.eg3d.generator_identity` of the generator that
    was tuned, or :func:`helpers.eg3d.checkpoint_identity` of its checkpoint); without one, the delta can only be
    applied with ``allow_other_base=True``.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    tensors = {name: t.to(_DTYPES[dtype]).contiguous() for name, t in delta.items()}
    metadata = {"format": FORMAT, "version": "1", "dtype": dtype, "base": json.dumps(base or {}, sort_keys=True)}
    return save_safetensors_atomic(path, tensors, metadata)


def load_weight_delta(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(float32 delta tensors, base identity) from a file written by :func:`save_weight_delta`. The identity is
    ``{}`` when the file records none."""
    tensors, metadata = read_safetensors(path, what="weight delta", expected=_EXPECTED)
    if metadata.get("format") != FORMAT:
        raise WeightsFileError(f"weight delta {path} is a safetensors file, but not a weight delta written by this "
                               f"toolkit (its metadata has no format {FORMAT!r})", f"give {_EXPECTED}")
    try:
        base = json.loads(metadata.get("base") or "{}")
    except ValueError:
        base = None
    if not isinstance(base, dict):
        raise WeightsFileError(f"weight delta {path} has an unreadable base record", "save the delta again")
    return {name: t.float() for name, t in tensors.items()}, base


def same_base(recorded: dict[str, Any] | None, actual: dict[str, Any] | None) -> bool | None:
    """Whether two checkpoint identities (:func:`helpers.eg3d.checkpoint_identity`) name the same generator: True,
    False, or None when either is unknown (no sha256 and no tiny seed, e.g. a record written before seeds were)."""
    def key(identity: dict[str, Any] | None) -> tuple[str, Any] | None:
        if not identity:
            return None
        if isinstance(identity.get("sha256"), str) and identity["sha256"]:
            return "sha256", identity["sha256"].lower()
        if isinstance(identity.get("tiny_seed"), int) and not isinstance(identity["tiny_seed"], bool):
            return "tiny_seed", identity["tiny_seed"]
        return None

    a, b = key(recorded), key(actual)
    return None if a is None or b is None else a == b


def _describe(identity: dict[str, Any] | None) -> str:
    if not identity:
        return "an unknown base"
    name = repr(identity.get("checkpoint") or "a checkpoint")
    if isinstance(identity.get("sha256"), str) and identity["sha256"]:
        return f"{name} (sha256 {identity['sha256'][:12]}…)"
    if isinstance(identity.get("tiny_seed"), int):
        return f"{name} (the tiny generator, seed {identity['tiny_seed']})"
    return f"{name} (no sha256 or seed recorded)"


def _check_base(path: str | os.PathLike[str], recorded: dict[str, Any], actual: dict[str, Any] | None) -> None:
    verdict = same_base(recorded, actual)
    if verdict:
        return
    override = "pass allow_other_base=True to apply it anyway"
    if verdict is False:
        raise WeightDeltaBaseError(f"weight delta {path} was tuned from {_describe(recorded)}, not from the given "
                                   f"generator {_describe(actual)}",
                                   f"load its base with helpers.eg3d.load({recorded.get('checkpoint')!r}), or "
                                   f"{override}")
    if same_base(recorded, recorded) is None:
        raise WeightDeltaBaseError(f"weight delta {path} does not record which checkpoint it was tuned from (written "
                                   f"before deltas recorded it; it names {_describe(recorded)})",
                                   f"if you know the generator is its base, {override}")
    raise WeightDeltaBaseError(f"the generator's checkpoint is unknown (it was not returned by helpers.eg3d.load), so "
                               f"weight delta {path}, tuned from {_describe(recorded)}, cannot be checked against it",
                               f"load the base with helpers.eg3d.load({recorded.get('checkpoint')!r}), pass "
                               f"base_identity=helpers.eg3d.checkpoint_identity(...), or {override}")


def apply_weight_delta(base: nn.Module, path: str | os.PathLike[str], *, allow_other_base: bool = False,
                       base_identity: dict[str, Any] | None = None) -> nn.Module:
    """A copy of ``base`` with the delta at ``path`` added.

    The delta only makes sense on the generator it was tuned from: ``base``'s identity (the one
    :func:`helpers.eg3d.load` recorded, or ``base_identity`` for a generator built otherwise) must match the file's
    record (same sha256; for ``tiny-random`` the same seed). Another base, or an identity unknown on either side,
    raises :class:`WeightDeltaBaseError` unless ``allow_other_base=True``.
    """
    delta, recorded = load_weight_delta(path)
    actual = base_identity if base_identity is not None else eg3d.generator_identity(base)
    if not allow_other_base:
        _check_base(path, recorded, actual)
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
