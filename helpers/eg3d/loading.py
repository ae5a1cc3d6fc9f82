"""Loading an EG3D generator by name or file: :func:`load`, its architecture alone, and its identity.

A name is one of :mod:`helpers.eg3d.checkpoints.published` (downloaded once into the cache) or ``"tiny-random"`` /
``"tiny-random:SEED"`` (:func:`helpers.eg3d.tiny.tiny_random`, offline); anything else is a local file: an official
``.pkl``, a state-dict ``.pth`` (pass ``config=``) or a native checkpoint. No code from a file is ever executed.
A local file is trusted as given; its sha256 is recorded beside it on first use and a change warns
(:func:`helpers.eg3d.checkpoints.checkpoint_files.checked_sha256`). Every generator :func:`load` returns remembers
where it came from (:func:`generator_identity`: name, file, sha256, tiny seed), which weight deltas check.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

import torch

from helpers.download.http_download import recorded_sha256, sha256_file
from helpers.eg3d.checkpoints.checkpoint_files import checked_sha256, read_checkpoint
from helpers.eg3d.checkpoints.native_format import native_json_path, native_sha256
from helpers.eg3d.checkpoints.published import get_entry, resolve
from helpers.eg3d.config import GeneratorConfig
from helpers.eg3d.generator import Generator
from helpers.eg3d.tiny import tiny_config, tiny_random

__all__ = ["TINY_RANDOM", "checkpoint_identity", "generator_identity", "load", "load_config"]

# The identity of every generator load() returned, as long as it lives (copies and tuned generators have none).
_IDENTITIES: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, Any]] = weakref.WeakKeyDictionary()


#: Name that :func:`load` maps to :func:`tiny_random` (``"tiny-random"`` or ``"tiny-random:SEED"``).
TINY_RANDOM = "tiny-random"


def _tiny_seed(name: str) -> int | None:
    """The weight seed if ``name`` is ``tiny-random[:SEED]``, else None."""
    head, sep, tail = name.partition(":")
    if head != TINY_RANDOM:
        return None
    if not sep:
        return 0
    if not tail.isdigit():
        raise ValueError(f"expected {TINY_RANDOM}:<seed> with an integer seed, got {name!r}")
    return int(tail)


def load(name_or_path: str | os.PathLike[str], device: torch.device | str = "cpu", *,
         cache_dir: str | os.PathLike[str] | None = None, config: object = None, progress: bool = True) -> Generator:
    """Load an EG3D generator: a registry name (``"ffhq512-128"``, downloaded once into the cache)
    or a local official ``.pkl``, state-dict ``.pth`` (pass ``config=``, e.g. a registry name) or
    native checkpoint. No code from the file is executed. Returns the model in eval mode on ``device``.

    ``"tiny-random"`` / ``"tiny-random:SEED"`` give :func:`tiny_random` (offline; tests, smoke mode).
    The generator's :func:`generator_identity` is what :func:`checkpoint_identity` says of ``name_or_path``.
    """
    text = str(name_or_path)
    if not os.path.exists(name_or_path) and (seed := _tiny_seed(text)) is not None:
        generator = tiny_random(seed=seed, device=device).eval()
        _IDENTITIES[generator] = _tiny_identity(text, seed)
        return generator
    registry = not os.path.exists(name_or_path)
    path = resolve(name_or_path, cache_dir=cache_dir, progress=progress)
    if config is None and registry:  # a registry name: its config fits .pth files
        config = text
    contents = read_checkpoint(path, config=config, record_sha256=False)  # the identity records it, once per load
    generator = Generator.from_checkpoint_contents(contents, device=device)
    _IDENTITIES[generator] = _file_identity(text, path, registry)
    return generator


def load_config(name_or_path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
                progress: bool = True) -> GeneratorConfig:
    """The architecture of a generator without its weights: :func:`tiny_config` for ``tiny-random``,
    the registry's recorded config for a name (nothing is downloaded), else read from the file."""
    text = str(name_or_path)
    registry = not os.path.exists(name_or_path)
    if registry:
        if _tiny_seed(text) is not None:
            return tiny_config()
        cfg = get_entry(text).config
        if cfg is not None:
            return GeneratorConfig.from_init_kwargs(cfg["init_kwargs"], cfg["rendering_kwargs"],
                                                    cfg["neural_rendering_resolution"], cfg.get("extras"))
    path = resolve(name_or_path, cache_dir=cache_dir, progress=progress)
    return read_checkpoint(path, record_sha256=not registry).config


def checkpoint_identity(name_or_path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
                        progress: bool = True) -> dict[str, Any]:
    """What a dataset or a weight delta records about its generator: ``checkpoint`` (the name given), ``path`` (the
    local file), ``sha256`` (of the file; a native checkpoint's tensor file) and ``tiny_seed`` (the weight seed of
    ``tiny-random[:SEED]``, which has no file: path and sha256 None; None for files). A registry name is downloaded
    first; a local file's sha256 comes from its sidecar record when the file is unchanged."""
    text = str(name_or_path)
    if not os.path.exists(name_or_path) and (seed := _tiny_seed(text)) is not None:
        return _tiny_identity(text, seed)
    registry = not os.path.exists(name_or_path)
    return _file_identity(text, resolve(name_or_path, cache_dir=cache_dir, progress=progress), registry)


def generator_identity(generator: torch.nn.Module) -> dict[str, Any] | None:
    """:func:`checkpoint_identity` of the checkpoint :func:`load` read ``generator`` from; None for a generator that
    :func:`load` did not return (built directly, a copy, a tuned generator)."""
    try:
        identity = _IDENTITIES.get(generator)
    except TypeError:  # not a module (no weak reference to it): unknown
        return None
    return dict(identity) if identity is not None else None


def _tiny_identity(text: str, seed: int) -> dict[str, Any]:
    return {"checkpoint": text, "path": None, "sha256": None, "tiny_seed": seed}


def _file_identity(text: str, path: Path, registry: bool) -> dict[str, Any]:
    if native_json_path(path) is not None:
        digest = native_sha256(path)  # verified against the tensors by read_native
    elif registry:
        digest = recorded_sha256(path) or sha256_file(path)  # the download's record, checked by resolve()
    else:
        digest = checked_sha256(path)
    return {"checkpoint": text, "path": str(path), "sha256": digest, "tiny_seed": None}
