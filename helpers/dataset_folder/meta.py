"""``meta.json`` of a dataset folder: reading, writing, and refusing to mix samples made with other settings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from helpers.base.atomic import write_text_atomic
from helpers.dataset_folder.layout import FORMAT_NAME, META, DatasetFolderError, remove_temporaries
from helpers.dataset_folder.manifest import read_samples


def read_meta(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``meta.json`` of a folder, or None when there is none."""
    path = Path(root) / META
    if not path.exists():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_NAME:
        raise DatasetFolderError(f"{path} is not a {FORMAT_NAME} meta.json (format={meta.get('format')!r})")
    return meta


def write_meta(root: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    return write_text_atomic(Path(root) / META, json.dumps(meta, indent=2) + "\n")


def prepare_folder(root: str | os.PathLike[str], meta: dict[str, Any], *,
                   keys: tuple[str, ...] = ("generator", "settings"),
                   clean: bool = True) -> dict[str, dict[str, Any]]:
    """Open a dataset folder for writing (new, or resumed): create it, write ``meta`` (or refuse a folder whose
    meta.json differs in ``keys``, see :func:`check_compatible`), delete temporaries of an interrupted run (unless
    ``clean`` is False: other shards may be writing right now), and return the samples already there
    (:func:`read_samples`)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    existing = read_meta(root)
    if existing is None:
        write_meta(root, meta)
    else:
        check_compatible(existing, meta, root, keys)
    if clean:
        remove_temporaries(root)
    return read_samples(root)


def settings_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested settings dicts."""
    diffs = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += settings_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            diffs.append(f"{prefix}{key}: {va!r} vs {vb!r}")
    return diffs


def check_compatible(existing: dict[str, Any], new: dict[str, Any], where: str | os.PathLike[str],
                     keys: tuple[str, ...] = ("generator", "settings")) -> None:
    """Samples of two runs may share a folder only if the meta.json ``keys`` (generator and settings; converters
    add ``source``) are the same."""
    diffs = settings_differences({k: existing.get(k, {}) for k in keys}, {k: new.get(k, {}) for k in keys})
    if diffs:
        raise DatasetFolderError(
            f"{where} holds samples made with other settings ({'; '.join(diffs[:6])}"
            f"{f'; and {len(diffs) - 6} more' if len(diffs) > 6 else ''}) — use the same options to resume, or "
            "another --out folder"
        )
