"""Data a notebook needs and may not have yet: it says what it will do, then does it.

:func:`generated_dataset` makes (or extends, or reuses) the shared EG3D set of a checkpoint, with a time estimate
measured on this machine before the long part starts. :func:`public_dataset` finds a registry dataset in the shared
data folder or downloads it there (licence first); ``source="stand-in"`` downloads a small stand-in in the published
layout from this machine instead (:mod:`helpers.notebook.standin_data`: smoke mode). Folders follow
:func:`helpers.notebook.notebook_session.data_root`, the same for every notebook and ``python -m helpers datasets``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path

from helpers import datasets, eg3d
from helpers.base.runtime import resolve_device
from helpers.dataset_folder.meta import read_meta
from helpers.generation import GenerateConfig, SampleSettings, generate, plan
from helpers.generation.generate_dataset import settings_from_json
from helpers.notebook.notebook_session import data_root
from helpers.notebook.standin_data import standin_source

__all__ = ["STAND_IN", "generated_dataset", "generated_dataset_dir", "public_dataset", "public_dataset_dir"]

#: ``source`` value of :func:`public_dataset` that fetches the local stand-in (smoke mode).
STAND_IN = "stand-in"


def generated_dataset_dir(checkpoint: str) -> Path:
    """The shared folder of the set generated with ``checkpoint``: ``<data_root>/generated-<checkpoint>``."""
    return data_root() / f"generated-{re.sub(r'[^A-Za-z0-9._-]+', '_', Path(checkpoint).stem)}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def generated_dataset(checkpoint: str, count: int, *, settings: SampleSettings | None = None,
                      batch_size: int | None = None, echo: Callable[[str], None] = print) -> Path:
    """The shared generated set of ``checkpoint`` with (at least) seeds ``0 … count-1``: generated here when missing,
    resumed when interrupted (run again), reused as it is when complete. Before the long part it renders one batch
    and prints the time the rest will take on this device. ``settings`` must match an existing folder's (the error
    says what differs); None: the folder's own (its ``meta.json``), else :class:`helpers.generation.SampleSettings`'
    defaults (no meshes)."""
    out = generated_dataset_dir(checkpoint)
    meta = read_meta(out) if out.is_dir() else None
    if settings is None:
        settings = settings_from_json(meta["settings"]) if meta else SampleSettings()
    config = GenerateConfig(out=out, seeds=tuple(range(count)), checkpoint=checkpoint, settings=settings,
                            batch_size=batch_size)
    todo = plan(config)
    if not todo.to_render:
        echo(f"{config.out}: all {count} samples of {checkpoint} are there")
        return config.out
    echo(f"{config.out} holds {todo.already_done} of the {count} samples this notebook uses: generating the other "
         f"{todo.to_render} with {checkpoint} on {todo.device} (resumable: after an interruption run the cell again)")
    generator = eg3d.load(checkpoint, device=resolve_device(config.device))  # downloaded once; loaded once here
    first = todo.todo_batches[0]
    began = time.perf_counter()
    generate(dataclasses.replace(config, seeds=first, progress=False), generator=generator, log=lambda *_: None)
    per_sample = (time.perf_counter() - began) / len(first)  # includes the GPU's warm-up: errs long
    rest = todo.to_render - len(first)
    if rest:
        echo(f"{per_sample:.2f} s per sample here: about {_minutes(per_sample * rest)} for the remaining {rest}")
        generate(config, generator=generator, log=lambda *_: None)
    return config.out


def public_dataset_dir(name: str) -> Path:
    """The shared folder of registry dataset ``name``: ``<data_root>/<name>`` (where ``datasets download`` puts it)."""
    return data_root() / name


def _present(info: datasets.DatasetInfo, folder: Path) -> Path | None:
    if not folder.is_dir() or not any(p for p in folder.iterdir() if not p.name.startswith(".")):
        return None
    root = datasets.find_root(info, folder)
    return None if datasets.check_layout(info, root) else root


def public_dataset(name: str, *, accept_licence: bool = False, source: str | None = None, folder: str | Path = "",
                   kaggle_dataset: str | None = None, progress: bool = True,
                   echo: Callable[[str], None] = print) -> Path:
    """The root of registry dataset ``name`` in ``folder`` (empty: :func:`public_dataset_dir`): used as it is when it
    holds the published layout, else downloaded there once its licence is accepted (``accept_licence``; the licence
    is printed first). ``source``: a source kind to prefer (``"kaggle"``, ``"google-drive"``…) or :data:`STAND_IN`.

    Raises:
        helpers.datasets.LicenceNotAcceptedError: the dataset is missing and its licence was not accepted.
    """
    info = datasets.get(name)
    target = Path(folder).expanduser() if folder else public_dataset_dir(name)
    found = _present(info, target)
    if found is not None:
        echo(f"{name}: using {found}")
        return found
    mirror = standin_source(name, data_root() / "stand-in-sources") if source == STAND_IN else None
    echo(f"{name} is not in {target}: downloading it ({'a small local stand-in' if mirror else info.size})")
    try:
        return datasets.download(name, target, accept_licence=accept_licence, source=None if mirror else source,
                                 mirror=mirror, kaggle_dataset=kaggle_dataset, progress=progress, ask=lambda _: False,
                                 echo=echo)
    except datasets.LicenceNotAcceptedError:
        raise datasets.LicenceNotAcceptedError(
            f"the licence of {name} was not accepted: read it above ({info.licence_url}); if you accept it, tick "
            "ACCEPT_LICENCE and run the cell again") from None
