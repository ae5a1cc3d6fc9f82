"""Read EG3D generator checkpoints without running any code from them.

:func:`read_checkpoint` accepts three kinds of files and always returns a
:class:`CheckpointContents` (official ``G_ema`` key names, settings as plain Python values):

* **official network pickles** (``ffhq512-128.pkl``, LPFF's ``var1-128.pkl``, training snapshots):
  read with :class:`~helpers.eg3d.checkpoints.safe_unpickle.RestrictedUnpickler`; the source code EG3D embeds
  in them is never executed;
* **state dicts** ``.pth`` / ``.pt`` as written by the usual pkl→pth conversions (EG3D-projector
  and its PTI saves ``{'G_ema': G.state_dict()}``; bare state dicts and ``{'state_dict': …}`` are
  accepted too), read with ``torch.load(weights_only=True)``. They hold no architecture, so pass
  ``config=`` (a registry name such as ``"ffhq512-128"`` or a dict, see :func:`config_from`);
* **native** checkpoints of this package (``<name>.safetensors`` + ``<name>.json``, written by
  :func:`helpers.eg3d.checkpoints.native_format.save_native`), the fastest to load.

The kind is decided from the content, not the file name (:func:`helpers.base.weights_file.weights_file_kind`).
A local ``.pkl`` / ``.pth`` gets a sidecar ``<file>.json`` with its sha256 the first time it is read
(:func:`checked_sha256`, the downloader's sidecar format); a later read warns when the file changed.
"""

from __future__ import annotations

import json
import os
import stat
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers.base.atomic import write_text_atomic
from helpers.base.weights_file import (
    UnsafeWeightsError,
    WeightsFileError,
    WeightsFileNotFoundError,
    read_weights,
    weights_file_kind,
)
from helpers.download.http_download import sha256_file
from helpers.eg3d.checkpoints.contents import GENERATOR_CLASS, CheckpointContents
from helpers.eg3d.checkpoints.native_format import native_json_path, native_paths, read_native
from helpers.eg3d.checkpoints.published import get_entry
from helpers.eg3d.checkpoints.safe_unpickle import (
    CheckpointError,
    PersistentObject,
    ReferenceObject,
    UnsafeCheckpointError,
    safe_load,
)

__all__ = ["checked_sha256", "config_from", "read_checkpoint", "sidecar_path", "state_dict_of"]

# What other EG3D-family networks are called, to say what a wrong file actually holds.
_OTHER_KINDS = {
    "Generator": "a StyleGAN2/StyleGAN3 generator (2D, no tri-planes)",
    "DualDiscriminator": "an EG3D discriminator",
    "Discriminator": "a StyleGAN discriminator",
    "AugmentPipe": "an ADA augmentation pipeline",
}
_WHAT = "EG3D checkpoint"
_EXPECTED = "a network pickle (.pkl), a torch state dict (.pth/.pt) or a native checkpoint (.safetensors + .json)"
# Keys that every TriPlaneGenerator state dict has, whatever its size.
_SIGNATURE_KEYS = ("backbone.mapping.w_avg", "decoder.net.0.weight", "backbone.synthesis.b4.const")


# ------------------------------------------------------------------------------- public API
def read_checkpoint(
    path: str | os.PathLike[str],
    *,
    network: str = "G_ema",
    config: str | Mapping[str, Any] | None = None,
    record_sha256: bool = True,
) -> CheckpointContents:
    """Read an EG3D generator from an official pickle, a state-dict ``.pth`` or a native checkpoint.

    Args:
        path: the file (for native checkpoints the ``.json``, the ``.safetensors`` or their
            common stem).
        network: which network of a pickle or ``.pth`` dict to read. ``"G_ema"`` (the default)
            falls back to ``"G"`` with a warning when the file has no ``G_ema``.
        config: architecture for state-dict files, which do not store it: a registry name
            (``"ffhq512-128"``) or a mapping accepted by :func:`config_from`. Ignored for
            pickles and native checkpoints, which carry their own.
        record_sha256: for a ``.pkl`` / ``.pth`` file, record its sha256 in the sidecar ``<file>.json`` the first
            time and warn when a later read finds another (:func:`checked_sha256`). Registry downloads pass False:
            the downloader keeps and checks their sha256 itself. Native checkpoints verify their own.

    Raises:
        UnsafeCheckpointError: the file refers to code outside the allow-list (nothing was run).
        CheckpointError: missing, empty, truncated or corrupt file, or a network of another kind.
    """
    path = Path(path)

    native_json = native_json_path(path)
    if native_json is not None:
        return read_native(native_json)
    try:
        kind = weights_file_kind(path, what=_WHAT, expected=_EXPECTED)
    except (WeightsFileError, WeightsFileNotFoundError) as exc:
        raise CheckpointError(exc.what, exc.todo) from None
    if kind == "safetensors":
        raise CheckpointError(
            f"{path} has no settings file {native_paths(path)[1].name} beside it: a native checkpoint "
            "is the .safetensors plus its .json (write both with helpers.eg3d.checkpoints.native_format.save_native)"
        )
    if kind == "pickle":  # an official network pickle: the allow-list unpickler
        with open(path, "rb") as f:
            data = safe_load(f, source=str(path))
        try:
            contents = _contents_from_pickle(data, path, network)
        except RecursionError:  # pickles can build cyclic or absurdly deep module graphs
            raise CheckpointError(f"{path} has a cyclic or too deeply nested module structure") from None
    else:  # torch.save, zip or legacy
        contents = _read_state_dict_file(path, network=network, config=config)
    if record_sha256:
        checked_sha256(path, need=False)
    return contents


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``<file>.json``: where the sha256 of a checkpoint file is recorded (the downloader's sidecar, same format)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def checked_sha256(path: str | os.PathLike[str], *, need: bool = True) -> str | None:
    """The sha256 of a local checkpoint file, checked against the one recorded in its :func:`sidecar_path`.

    The first time, the sha256, size and modification time are recorded; later calls hash the file again only when
    its size or modification time changed, and issue a one-line ``UserWarning`` when the sha256 differs from the
    record (the record is kept, so the warning repeats until the file is restored or the sidecar deleted). A file is
    trusted as it was when first recorded. In a read-only folder (no write permission bits, or writing fails) no
    record is written; with ``need=False`` such a file without record is not hashed at all (None is returned).
    """
    path = Path(path)
    sidecar = sidecar_path(path)
    info = path.stat()
    record = _read_sidecar(sidecar)
    recorded = record.get("sha256") if isinstance(record.get("sha256"), str) else None
    if recorded and record.get("size") == info.st_size and record.get("mtime_ns") == info.st_mtime_ns:
        return recorded
    writable = _writable_folder(path.parent)
    if recorded is None and not writable and not need:
        return None
    digest = sha256_file(path)
    if recorded is not None and digest != recorded:
        warnings.warn(
            f"checkpoint {path} changed since its sha256 was recorded in {sidecar.name} (was {recorded[:12]}…, now "
            f"{digest[:12]}…): it is corrupt or was replaced — restore it or download it again; if you replaced it "
            f"on purpose, delete {sidecar}", UserWarning, stacklevel=3)
        return digest
    if writable:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        record = {**record, "sha256": digest, "size": info.st_size, "mtime_ns": info.st_mtime_ns}
        record.setdefault("recorded", now)
        try:
            write_text_atomic(sidecar, json.dumps(record, indent=1) + "\n")
        except OSError:
            pass  # a folder we cannot write to after all: no record, nothing else changes
    return digest


def _read_sidecar(sidecar: Path) -> dict[str, Any]:
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _writable_folder(folder: Path) -> bool:
    """Writable for us, and not marked read-only (no write bits: a superuser could still write there)."""
    try:
        return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    except OSError:
        return False


def state_dict_of(module: PersistentObject | ReferenceObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """The ``state_dict()`` a stub module would have: parameters, persistent buffers, submodules."""
    out: dict[str, torch.Tensor] = {}
    _collect_tensors(module, prefix, out)
    return out


def config_from(config: str | Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a ``config`` for state-dict files to ``{init_kwargs, rendering_kwargs, neural_rendering_resolution}``.

    ``config`` is a registry name (see :mod:`helpers.eg3d.checkpoints.published`) or a mapping with
    ``init_kwargs`` (which must include ``rendering_kwargs``) and ``neural_rendering_resolution``,
    and optionally ``rendering_kwargs`` (defaults to ``init_kwargs['rendering_kwargs']``) and
    ``extras``.
    """
    if isinstance(config, str):
        entry = get_entry(config)
        if entry.config is None:
            raise CheckpointError(f"registry entry {config!r} has no known architecture config; pass a dict")
        config = entry.config
    if not isinstance(config, Mapping) or "init_kwargs" not in config:
        raise CheckpointError(
            "config must be a registry name or a mapping with 'init_kwargs' and "
            "'neural_rendering_resolution' (see helpers.eg3d.checkpoints.checkpoint_files.config_from)"
        )
    init_kwargs = _plain(config["init_kwargs"], "init_kwargs")
    rendering = config.get("rendering_kwargs", init_kwargs.get("rendering_kwargs"))
    if not isinstance(rendering, Mapping):
        raise CheckpointError("config has no rendering_kwargs (neither top-level nor inside init_kwargs)")
    if "neural_rendering_resolution" not in config:
        raise CheckpointError("config lacks 'neural_rendering_resolution' (64 or 128 for the official models)")
    return {
        "init_kwargs": init_kwargs,
        "rendering_kwargs": _plain(rendering, "rendering_kwargs"),
        "neural_rendering_resolution": int(config["neural_rendering_resolution"]),
        "extras": _plain(config.get("extras", {}), "extras"),
    }


# ----------------------------------------------------------------------------- network pickles
def _contents_from_pickle(data: Any, path: Path, network: str) -> CheckpointContents:
    chosen = network
    if isinstance(data, PersistentObject):  # a bare network pickle rather than a snapshot dict
        obj, chosen = data, ""
    elif isinstance(data, dict):
        if network not in data and network == "G_ema" and "G" in data:
            warnings.warn(f"{path} has no 'G_ema'; reading 'G' (the non-averaged generator) instead", stacklevel=3)
            chosen = "G"
        if chosen not in data:
            raise CheckpointError(
                f"{path} has no network {network!r}; it holds {sorted(map(str, data))}. EG3D snapshots hold "
                "'G_ema' (use it), 'G' and 'D'"
            )
        obj = data[chosen]
    else:
        raise CheckpointError(
            f"{path} is a pickle of a {type(data).__name__}, not an EG3D network snapshot (a dict with "
            "'G_ema') or a network"
        )
    where = f"{path} [{chosen}]" if chosen else str(path)
    _check_generator(obj, where)
    state = obj.state
    init_kwargs = _plain(state.get("_init_kwargs", {}), "init_kwargs")
    init_args = _plain(state.get("_init_args", ()), "init_args")
    if init_args:
        init_kwargs["_init_args"] = init_args
    rendering = state.get("rendering_kwargs", init_kwargs.get("rendering_kwargs"))
    resolution = state.get("neural_rendering_resolution")
    if not isinstance(rendering, dict) or not isinstance(resolution, (int, np.integer)):
        raise CheckpointError(f"{where} lacks rendering_kwargs or neural_rendering_resolution")
    return CheckpointContents(
        state_dict=state_dict_of(obj),
        init_kwargs=init_kwargs,
        rendering_kwargs=_plain(rendering, "rendering_kwargs"),
        neural_rendering_resolution=int(resolution),
        class_name=obj.class_name,
        source=f"{where} (official network pickle)",
        extras=_extras(obj),
    )


def _check_generator(obj: Any, where: str) -> None:
    if isinstance(obj, PersistentObject) and obj.class_name == GENERATOR_CLASS:
        return
    if isinstance(obj, PersistentObject):
        found = _OTHER_KINDS.get(obj.class_name, f"a network of class {obj.class_name!r}")
    elif obj is None:
        found = "None"
    else:
        found = f"a {type(obj).__name__}"
    raise CheckpointError(
        f"{where} is {found}, not an EG3D generator: expected a persistent {GENERATOR_CLASS!r}. "
        "Pass an EG3D checkpoint such as ffhq512-128.pkl (or choose another network= key)"
    )


def _collect_tensors(module: Any, prefix: str, out: dict[str, torch.Tensor]) -> None:
    if not isinstance(module, (PersistentObject, ReferenceObject)):
        raise CheckpointError(f"submodule {prefix.rstrip('.')!r} is a {type(module).__name__}, not a module")
    state = module.state
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if tensor is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise CheckpointError(f"{prefix}{name} is a {type(tensor).__name__}, not a tensor")
            out[prefix + name] = tensor
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            _collect_tensors(child, f"{prefix}{name}.", out)


def _extras(generator: PersistentObject) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    renderer = (generator.state.get("_modules") or {}).get("renderer")
    axes = getattr(renderer, "state", {}).get("plane_axes")
    if isinstance(axes, torch.Tensor):
        extras["plane_axes"] = axes.tolist()
    camera = generator.state.get("average_camera")
    if isinstance(camera, torch.Tensor):
        extras["average_camera"] = camera.reshape(-1).tolist()
    return extras


def _plain(value: Any, what: str) -> Any:
    """Settings as plain JSON-friendly Python: dicts (EasyDict too), lists, numbers, str, None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, what) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, what) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(f"unexpected {type(value).__name__} in the checkpoint's {what}")


# ------------------------------------------------------------------------------- state dicts
def _read_state_dict_file(path: Path, *, network: str, config: str | Mapping[str, Any] | None) -> CheckpointContents:
    try:
        data = read_weights(path, what=_WHAT, expected=_EXPECTED)
    except UnsafeWeightsError as exc:
        raise UnsafeCheckpointError(exc.what, exc.todo) from None
    except WeightsFileError as exc:
        raise CheckpointError(exc.what, exc.todo) from None
    state_dict, key = _find_state_dict(data, network, path)
    if config is None:
        raise CheckpointError(
            f"{path} is a bare state dict without the architecture; pass config= with a registry name "
            "(e.g. 'ffhq512-128') or a dict with init_kwargs and neural_rendering_resolution"
        )
    spec = config_from(config)
    where = f"[{key}]" if key else "(bare state dict)"
    name = config if isinstance(config, str) else "given dict"
    return CheckpointContents(
        state_dict=state_dict,
        init_kwargs=spec["init_kwargs"],
        rendering_kwargs=spec["rendering_kwargs"],
        neural_rendering_resolution=spec["neural_rendering_resolution"],
        class_name=GENERATOR_CLASS,
        source=f"{path} {where} (state dict, config {name})",
        extras=spec["extras"],
    )


def _find_state_dict(data: Any, network: str, path: Path) -> tuple[dict[str, torch.Tensor], str]:
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, expected a state dict")
    if _is_state_dict(data):
        found, key = data, ""
    else:
        candidates = [network, "G_ema", "state_dict", "G"] if network == "G_ema" else [network]
        key = next((k for k in candidates if isinstance(data.get(k), Mapping) and _is_state_dict(data[k])), "")
        if not key:
            raise CheckpointError(
                f"{path} holds no state dict under {candidates}; its keys are {sorted(map(str, data))[:20]}"
            )
        if key == "G" and network == "G_ema":
            warnings.warn(f"{path} has no 'G_ema' state dict; reading 'G' instead", stacklevel=4)
        found = data[key]
    missing = [k for k in _SIGNATURE_KEYS if k not in found]
    if missing:
        raise CheckpointError(
            f"{path} is a state dict, but not of an EG3D TriPlaneGenerator (missing {missing}); "
            f"its first keys are {list(found)[:5]}"
        )
    return dict(found), key


def _is_state_dict(value: Mapping[Any, Any]) -> bool:
    return bool(value) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
