"""Loading an EG3D generator by name or file: :func:`load`, its architecture alone, and its identity.

A name is one of :mod:`helpers.eg3d.checkpoints.published` (downloaded once into the cache) or ``"tiny-random"`` /
``"tiny-random:SEED"`` (:func:`helpers.eg3d.tiny.tiny_random`, offline); anything else is a local file: an official
``.pkl``, a state-dict ``.pth`` (pass ``config=``) or a native checkpoint. No code from a file is ever executed.
"""

from __future__ import annotations

import os

import torch

from helpers.download.http_download import sha256_file
from helpers.eg3d.checkpoints.checkpoint_files import read_checkpoint
from helpers.eg3d.checkpoints.published import get_entry, resolve
from helpers.eg3d.config import GeneratorConfig
from helpers.eg3d.generator import Generator
from helpers.eg3d.tiny import tiny_config, tiny_random

__all__ = ["TINY_RANDOM", "checkpoint_identity", "load", "load_config"]


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
    """
    if not os.path.exists(name_or_path) and (seed := _tiny_seed(str(name_or_path))) is not None:
        return tiny_random(seed=seed, device=device).eval()
    path = resolve(name_or_path, cache_dir=cache_dir, progress=progress)
    if config is None and not os.path.exists(name_or_path):  # a registry name: its config fits .pth files
        config = str(name_or_path)
    contents = read_checkpoint(path, config=config)
    return Generator.from_checkpoint_contents(contents, device=device)


def load_config(name_or_path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
                progress: bool = True) -> GeneratorConfig:
    """The architecture of a generator without its weights: :func:`tiny_config` for ``tiny-random``,
    the registry's recorded config for a name (nothing is downloaded), else read from the file."""
    text = str(name_or_path)
    if not os.path.exists(name_or_path):
        if _tiny_seed(text) is not None:
            return tiny_config()
        cfg = get_entry(text).config
        if cfg is not None:
            return GeneratorConfig.from_init_kwargs(cfg["init_kwargs"], cfg["rendering_kwargs"],
                                                    cfg["neural_rendering_resolution"], cfg.get("extras"))
    return read_checkpoint(resolve(name_or_path, cache_dir=cache_dir, progress=progress)).config


def checkpoint_identity(name_or_path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
                        progress: bool = True) -> dict[str, str | None]:
    """What a dataset records about its generator: the name given, the local file and its sha256
    (downloading a registry name first). ``tiny-random`` has no file: path and sha256 are None."""
    text = str(name_or_path)
    if not os.path.exists(name_or_path) and _tiny_seed(text) is not None:
        return {"checkpoint": text, "path": None, "sha256": None}
    path = resolve(name_or_path, cache_dir=cache_dir, progress=progress)
    return {"checkpoint": text, "path": str(path), "sha256": sha256_file(path)}
