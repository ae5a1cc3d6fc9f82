"""Notebook pictures and the evaluation scorer: ranking, grids, curves, original-convention scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.base.captions import COLORBAR_HEIGHT, HEADER_HEIGHT
from helpers.dataset_folder.splits import SplitConfig
from helpers.datasets.original_layouts import OriginalFolder
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.depth.depth_figures import (
    error_colors,
    original_layout_meshes,
    prediction_meshes,
    qualitative_grid,
    ranked_ids,
    review_val_split,
    training_curves,
)
from helpers.depth.evaluate_depth import EvaluationConfig, as_original_map, evaluate_depth_model, score_batch
from helpers.depth.metrics.depth_metrics import original_normalize
from helpers.depth.metrics.metrics_table import MetricsTable
from helpers.depth.models import DepthModelConfig, build_depth_model, save_depth_model
from helpers.depth.reconstruction import FRONTAL_FACE_Z_RANGE
from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset


def table_of(values: dict[str, float], key: str = "original_l1") -> MetricsTable:
    table = MetricsTable()
    for sample_id, value in values.items():
        table.add_row(sample_id, {key: value})
    return table


def test_ranked_ids_follow_the_metric_direction_and_never_overlap():
    table = table_of({"a": 0.3, "b": 0.1, "c": 0.2, "d": 0.4})
    assert ranked_ids(table, "original_l1", n=2) == (["b", "c"], ["d", "a"])
    assert ranked_ids(table, "original_l1", n=3) == (["b", "c", "a"], ["d"])  # disjoint when rows are few
    higher = table_of({"a": 0.3, "b": 0.9}, key="delta1")
    assert ranked_ids(higher, "delta1", n=1) == (["b"], ["a"])
    with pytest.raises(ValueError, match="no valid rows"):
        ranked_ids(table, "abs_rel")


def test_as_original_map_puts_the_nearest_point_at_one():
    z = torch.tensor([[[[2.5, 2.6], [2.7, 0.0]]]])
    mask = z > 0
    assert torch.allclose(as_original_map(z, mask, "metric_z"), original_normalize(z, mask))
    disparity = torch.where(mask, 1 / z.clamp(min=1e-6), torch.zeros_like(z))
    mapped = as_original_map(disparity, mask, "relative_inverse")
    assert mapped[0, 0, 0, 0] == 1 and mapped[0, 0, 1, 0] == -1  # nearest 1, farthest -1
    assert torch.equal(as_original_map(z, mask, "original"), z)  # already a map


def test_score_batch_on_original_convention_data():
    target = torch.full((2, 1, 4, 4), -1.0)
    target[:, :, 1:3, 1:3] = 0.5
    mask = target > -1
    batch = {"depth": target, "mask": mask, "camera": torch.full((2, 25), math.nan), "id": ["x", "y"]}
    pred = target.clone()
    pred[1] += 0.1  # 0.1 everywhere
    scores = score_batch(pred, batch, "original", metric_data=False)
    assert torch.allclose(scores["original_l1"], torch.tensor([0.0, 0.1], dtype=torch.float64))
    assert scores["original_perfect"].tolist() == [1.0, 0.0]
    assert scores["valid"].all() and "abs_rel" not in scores


@pytest.fixture(scope="module")
def heads(tmp_path_factory):
    return write_head_dataset(tmp_path_factory.mktemp("h") / "d", HeadDatasetConfig(count=4, image_size=32,
                                                                                   depth_size=32), progress=False)


def test_qualitative_grid_and_evaluation(heads):
    torch.manual_seed(0)
    config = DepthModelConfig(start_filts=4, n_blocks=3, input_size=32)
    model = build_depth_model(config)
    dataset = DepthDataset(heads, DepthDatasetConfig(image_size=32, depth_size=32))
    grid = qualitative_grid(model, config, dataset, [0, 2], tile=40)
    assert grid.shape == (HEADER_HEIGHT + 2 * 40 + 4 + COLORBAR_HEIGHT, 4 * 40 + 3 * 4, 3) and grid.dtype == np.uint8
    assert model.training  # mode restored
    table, loss = evaluate_depth_model(model, config, dataset, EvaluationConfig(batch_size=3, progress=False))
    assert len(table) == 4 and math.isnan(loss) and table.n_valid == 4
    assert {"abs_rel", "normal_mean_deg", "original_l1"} <= set(table.columns)


def test_error_colors_and_curves_errors(tmp_path):
    error = np.array([[0.0, 0.25], [1.0, 0.5]])
    mask = np.array([[True, True], [True, False]])
    rgb = error_colors(error, mask, vmax=0.5)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[1, 0].tolist() == [255, 255, 0]
    assert rgb[1, 1].tolist() == [255, 255, 255]  # off the mask
    with pytest.raises(FileNotFoundError, match="train-depth run folder"):
        training_curves(tmp_path)


def test_review_val_split_scores_and_ranks_a_saved_model(heads, tmp_path):
    torch.manual_seed(0)
    config = DepthModelConfig(start_filts=4, n_blocks=3, input_size=32, target="metric_z")
    checkpoint = save_depth_model(build_depth_model(config), config, tmp_path / "best.pt")
    every_id_in_val = SplitConfig(train=0.0, val=1.0, test=0.0)  # four heads: the review needs something to rank
    review = review_val_split(checkpoint, heads, depth_size=32, n=1, splits=every_id_in_val)
    assert review.val.config.target == "metric_z" and len(review.table) == len(review.val) > 0
    assert len(review.best) == len(review.worst) == 1 and review.best != review.worst
    assert review.grid.shape[0] == HEADER_HEIGHT + 2 * 128 + 4 + COLORBAR_HEIGHT  # a row each: the best, the worst
    meshes = prediction_meshes(review.model, review.val, review.best[0])
    assert [m.name.split(": ")[1].split(" (")[0] for m in meshes] == ["predicted", "ground truth"]
    truth = meshes[1]
    item = review.val[review.val.ids.index(review.best[0])]
    face = item["mask"][0].numpy()
    # The ground truth goes through the same back-projection: its depth is the dataset's on the face.
    assert np.allclose(truth.depth[face], item["depth"][0].numpy()[face]) and truth.mesh.num_faces > 0


def test_original_layout_meshes_back_project_the_published_maps(tmp_path):
    root = write_head_dataset(tmp_path / "synthetic", HeadDatasetConfig(layout="synthetic", count=2, image_size=32,
                                                                       depth_size=32, steps=32), progress=False)
    folder = OriginalFolder(root)
    meshes = original_layout_meshes(folder, 5)
    assert [m.name for m in meshes] == [f"synthetic: {i}" for i in folder.ids]  # at most what the folder has
    sample = folder.load(folder.ids[0])
    depth = meshes[0].depth  # z on the face, NaN elsewhere
    assert meshes[0].mesh.num_faces > 0 and np.array_equal(np.isfinite(depth), sample.mask)
    near, far = FRONTAL_FACE_Z_RANGE  # the assumed range: nearest point at near, farthest at far
    assert np.nanmin(depth) == pytest.approx(near, abs=1e-5) and np.nanmax(depth) <= far + 1e-5


def test_tiny_random_models_are_fixed_and_leave_the_random_state_alone():
    from helpers.depth.models import TINY_RANDOM_MODELS, load_depth_model
    from helpers.latent.encoder import TINY_RANDOM_ENCODER, load_latent_encoder

    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    for name in TINY_RANDOM_MODELS:
        a, b = load_depth_model(name), load_depth_model(name)
        assert a.config == TINY_RANDOM_MODELS[name]
        assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    first, second = load_latent_encoder(TINY_RANDOM_ENCODER), load_latent_encoder(TINY_RANDOM_ENCODER)
    assert all(torch.equal(x, y) for x, y in zip(first.state_dict().values(), second.state_dict().values()))
    assert torch.equal(torch.random.get_rng_state(), before)
