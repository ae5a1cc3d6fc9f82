"""Shared test fixtures.

The parity tests read reference data recorded from the official implementations. It lives in
``../shared/fixtures`` beside the repository (set ``HELPERS_FIXTURES`` to use another folder).
A missing folder is an error, never a skip: these tests are the proof of parity.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("HELPERS_FIXTURES", REPO.parent / "shared" / "fixtures"))


def fixture_path(*parts: str) -> Path:
    """Path of a reference file; a clear error if the fixtures are not there."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"reference fixture {path} not found: clone the repository next to the shared/ folder "
            "or set HELPERS_FIXTURES to the folder holding eg3d_reference/ and attention_unet_reference/"
        )
    return path


@pytest.fixture(scope="session")
def eg3d_reference() -> Path:
    """Folder of the official EG3D reference data (see its README.md)."""
    return fixture_path("eg3d_reference")


@pytest.fixture(scope="session")
def attention_unet_reference() -> Path:
    """Folder of the original Attention U-Net's reference data (see its README.md)."""
    return fixture_path("attention_unet_reference")


@pytest.fixture(scope="session")
def generator():
    """EG3D's tiny random generator (seed 0). Shared: tests must not modify it (PTI works on copies)."""
    from helpers import eg3d

    return eg3d.tiny_random(seed=0)


@pytest.fixture(scope="session")
def lpips():
    """LPIPS-VGG16 with seeded random weights (no download)."""
    from helpers.invert.lpips_weights import load_lpips

    return load_lpips("random", seed=0)


@pytest.fixture(scope="session")
def small_heads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 analytic heads at 32² in our folder format (9 train, 3 val under the depth tests' splits), made once.
    Shared: read it only (a test that damages samples works on a copy)."""
    from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset

    root = tmp_path_factory.mktemp("small") / "data"
    return write_head_dataset(root, HeadDatasetConfig(count=12, image_size=32, depth_size=32, seed=2), progress=False)
