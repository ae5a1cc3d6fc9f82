"""Pictures of the public datasets, on small folders in each published layout made by the tests (analytic heads)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.base.captions import COLORBAR_HEIGHT, HEADER_HEIGHT
from helpers.base.photo import resize_square
from helpers.dataset_folder import DatasetFolder
from helpers.datasets.dataset_figures import (
    coarse_projection_figure,
    mirror_pairs_sheet,
    original_depth_sheet,
    rebalance_figure,
)
from helpers.datasets.lpff import LpffFolder, convert_lpff
from helpers.datasets.original_layouts import OriginalFolder
from helpers.generation import HeadDatasetConfig, write_head_dataset
from helpers.mesh import Mesh

SMALL = {"image_size": 32, "depth_size": 32, "steps": 32}


@pytest.fixture(scope="module")
def lpff_root(tmp_path_factory):
    config = HeadDatasetConfig(layout="lpff", count=6, seed=3, max_yaw=1.4, max_pitch=0.5, **SMALL)
    return write_head_dataset(tmp_path_factory.mktemp("lpff") / "published", config, progress=False)


def test_original_depth_sheet_shows_image_and_published_depth(tmp_path):
    root = write_head_dataset(tmp_path / "prosopo", HeadDatasetConfig(layout="prosopo", count=3, **SMALL), progress=False)
    folder = OriginalFolder(root)
    sheet = original_depth_sheet(folder, 2, tile=40)
    assert sheet.shape == (HEADER_HEIGHT + 2 * 40 + 4 + COLORBAR_HEIGHT, 2 * 40 + 4, 3) and sheet.dtype == np.uint8
    sample = folder.load(folder.ids[0])
    depth_tile = sheet[HEADER_HEIGHT:HEADER_HEIGHT + 40, 44:, 0]
    assert depth_tile.max() == 255 and depth_tile.min() == 0  # nearest point white, outside the face black
    assert (sample.depth.max() == 1.0) and not sample.mask.all()


def test_rebalance_figure_counts_each_image_and_its_mirror(lpff_root):
    data = LpffFolder(lpff_root)
    fig = rebalance_figure({n: data.camera(n) for n in data.names}, title="lpff")
    scatter, rebalanced, published = fig.data
    assert len(scatter.x) == len(published.x) == 2 * len(data.names)  # each image and its mirror
    assert len(rebalanced.x) == int(np.sum(scatter.marker.color)) >= len(published.x)  # copies ≥ 1 each
    assert f"{2 * len(data.names)} images with mirrors" in fig.layout.title.text


def test_mirror_pairs_sheet_puts_each_face_beside_its_mirror(lpff_root, tmp_path):
    out = convert_lpff(lpff_root, tmp_path / "converted", mirror=True, rebalance=True, progress=False)
    sheet, captions = mirror_pairs_sheet(DatasetFolder(out), 2, tile=32)
    assert sheet.shape == (HEADER_HEIGHT + 2 * 32 + 4, 2 * 32 + 4, 3) and len(captions) == 2
    assert all("_mirror" in line.split("→")[1] for line in captions)
    first = captions[0].split(":")[0]
    dataset = DatasetFolder(out)
    tiles = sheet[HEADER_HEIGHT:]  # under the column titles
    assert np.array_equal(tiles[:32, :32], resize_square(dataset.load(first).image, 32))
    assert np.array_equal(tiles[:32, 36:], resize_square(dataset.load(f"{first}_mirror").image, 32))
    assert dataset.records[first]["replicas"] >= dataset.records[captions[1].split(":")[0]]["replicas"]  # rarest first


def test_coarse_projection_figure_draws_vertices_and_landmarks():
    image = np.zeros((16, 20, 3), np.uint8)
    mesh = Mesh(np.array([[2.5, 3.5, 0.0], [10.5, 8.5, 1.0], [4.5, 12.5, 2.0]], np.float32), np.array([[0, 1, 2]]))
    sample = {"id": "s", "image": image, "mesh": mesh, "landmarks": np.array([[5.5, 6.5]])}
    fig = coarse_projection_figure(sample)
    _, vertices, landmarks = fig.data
    assert list(vertices.x) == [2.0, 10.0, 4.0] and list(landmarks.y) == [6.0]  # pixel centres on integers
    assert len(coarse_projection_figure({**sample, "landmarks": None}).data) == 2
