"""The package's own checkpoint format: ``<stem>.safetensors`` (tensors) + ``<stem>.json`` (settings).

Faster and safer to load than a network pickle (no unpickling at all: safetensors is a flat header
plus raw bytes) and readable by any tool. The JSON holds the format name and version, the
generator's ``init_kwargs``, ``rendering_kwargs``, ``neural_rendering_resolution``, ``class_name``,
``extras``, the official key order (safetensors stores keys sorted), the source it was converted
from, and the size and sha256 of the tensor file, which :func:`read_native` verifies.

Both files are written atomically, tensors first: the JSON is the commit marker, so a present JSON
always describes a complete tensor file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from helpers.base.atomic import atomic_path, write_text_atomic
from helpers.base.weights_file import WeightsFileError, WeightsFileNotFoundError, read_safetensors
from helpers.download.http_download import sha256_file
from helpers.eg3d.checkpoints.contents import CheckpointContents
from helpers.eg3d.checkpoints.safe_unpickle import CheckpointError

__all__ = ["FORMAT", "FORMAT_VERSION", "native_paths", "native_json_path", "native_sha256", "save_native",
           "read_native"]

FORMAT = "eg3d-face-toolkit/native-checkpoint"
FORMAT_VERSION = 1
_SUFFIXES = (".json", ".safetensors")


def native_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(tensors, json)`` paths of the native checkpoint named by ``path`` (stem or either file)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in _SUFFIXES else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def native_json_path(path: str | os.PathLike[str]) -> Path | None:
    """The JSON of the native checkpoint ``path`` designates, or None if it is not one.

    A native checkpoint is named by its ``.json``, its ``.safetensors`` or (when no file of that
    name exists) its stem. Other existing files (``.pkl``, ``.pth``) are not native.
    """
    path = Path(path)
    if path.exists() and path.suffix not in _SUFFIXES:
        return None
    json_path = native_paths(path)[1]
    return json_path if json_path.is_file() else None


def save_native(contents: CheckpointContents, path: str | os.PathLike[str]) -> Path:
    """Write ``contents`` as ``<path>.safetensors`` + ``<path>.json``; returns the JSON path."""
    from safetensors.torch import save_file  # imported here: only native users need safetensors

    tensors_path, json_path = native_paths(path)
    tensors = _independent_tensors(contents.state_dict)
    with atomic_path(tensors_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        digest, size = sha256_file(tmp), tmp.stat().st_size
    record = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "class_name": contents.class_name,
        "init_kwargs": contents.init_kwargs,
        "rendering_kwargs": contents.rendering_kwargs,
        "neural_rendering_resolution": contents.neural_rendering_resolution,
        "extras": contents.extras,
        "converted_from": contents.source,
        "tensors": {"file": tensors_path.name, "bytes": size, "sha256": digest},
        "keys": list(contents.state_dict),
    }
    try:
        text = json.dumps(record, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint settings are not plain JSON data: {exc}") from None
    write_text_atomic(json_path, text + "\n")
    return json_path


def read_native(path: str | os.PathLike[str]) -> CheckpointContents:
    """Read a native checkpoint (``path``: the JSON, the tensors file or the stem), verifying its hash."""
    json_path = native_paths(path)[1]
    record = _read_record(json_path)
    tensors_path = json_path.with_name(record["tensors"]["file"])
    if not tensors_path.is_file():
        raise CheckpointError(f"native checkpoint {json_path}: its tensor file {tensors_path} is missing")
    size = tensors_path.stat().st_size
    if size != record["tensors"]["bytes"] or sha256_file(tensors_path) != record["tensors"]["sha256"]:
        raise CheckpointError(
            f"native checkpoint {tensors_path} does not match the sha256/size recorded in {json_path}: "
            "the file is corrupt or was replaced; convert the checkpoint again"
        )
    try:
        loaded, _ = read_safetensors(tensors_path, what="native checkpoint tensor file",
                                     expected=f"the tensors of {json_path.name}")
    except (WeightsFileError, WeightsFileNotFoundError) as exc:
        raise CheckpointError(exc.what, exc.todo) from None
    keys = record["keys"]
    if set(keys) != set(loaded) or len(keys) != len(loaded):
        raise CheckpointError(f"native checkpoint {json_path}: key list and tensor file disagree")
    return CheckpointContents(
        state_dict={k: loaded[k] for k in keys},
        init_kwargs=record["init_kwargs"],
        rendering_kwargs=record["rendering_kwargs"],
        neural_rendering_resolution=int(record["neural_rendering_resolution"]),
        class_name=record["class_name"],
        source=f"{json_path} (native checkpoint, converted from {record.get('converted_from') or 'unknown'})",
        extras=record.get("extras", {}),
    )


def native_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a native checkpoint's tensor file as its JSON records it (what :func:`read_native` verifies)."""
    json_path = native_paths(path)[1]
    digest = _read_record(json_path)["tensors"].get("sha256")
    if not isinstance(digest, str):
        raise CheckpointError(f"{json_path} records no sha256 of its tensor file — convert the checkpoint again")
    return digest


def _read_record(json_path: Path) -> dict[str, Any]:
    try:
        record = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"native checkpoint {json_path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{json_path} is not a readable native checkpoint JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{json_path} is not a native EG3D checkpoint (no \"format\": \"{FORMAT}\")")
    if not isinstance(record.get("version"), int) or record["version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{json_path} has native format version {record.get('version')!r}; this package reads up to "
            f"{FORMAT_VERSION}: update the package"
        )
    tensors = record.get("tensors")
    required = ("class_name", "init_kwargs", "rendering_kwargs", "neural_rendering_resolution", "keys")
    if (not isinstance(tensors, dict) or any(k not in record for k in required)
            or not isinstance(tensors.get("file"), str) or Path(tensors["file"]).name != tensors["file"]):
        raise CheckpointError(f"{json_path} is an incomplete native checkpoint JSON")
    return record


def _independent_tensors(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous tensors with no shared memory, as safetensors requires."""
    seen: set[int] = set()
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state_dict.items():
        tensor = tensor.detach().cpu().contiguous()
        ptr = tensor.untyped_storage().data_ptr()
        if ptr in seen or tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
            tensor = tensor.clone()  # a view into a shared or larger storage
        seen.add(tensor.untyped_storage().data_ptr())
        out[name] = tensor
    return out
