"""What the fault tests compare after a fault and a rerun: a dataset folder's samples byte for byte, a training
run's final weights bit for bit, and that no temporary file is left behind."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from helpers.dataset_folder.manifest import iter_files, read_samples


def sample_bytes(root: Path) -> dict[str, bytes]:
    """Every file of every sample in the manifests, plus the manifest records themselves."""
    out = {}
    for sid, record in read_samples(root).items():
        out[f"record:{sid}"] = json.dumps(record, sort_keys=True).encode()
        for rel in iter_files(record):
            out[rel] = (root / rel).read_bytes()
    return out


def leftovers(root: Path) -> list[str]:
    """Temporary and partial files under ``root`` (there should be none once a command has finished)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".tmp" in p.name or p.name.endswith(".part"))


def assert_same_final_weights(run: Path, reference: Path, note: str = "") -> None:
    """The ``last.pt`` of two training runs: the same step and bitwise the same weights."""
    resumed = torch.load(run / "last.pt", weights_only=True)
    expected = torch.load(reference / "last.pt", weights_only=True)
    assert resumed["progress"]["step"] == expected["progress"]["step"], note
    weights, wanted = resumed["model"]["state_dict"], expected["model"]["state_dict"]
    assert weights.keys() == wanted.keys(), note
    for key, value in wanted.items():
        assert torch.equal(weights[key], value), f"{key} {note}"
