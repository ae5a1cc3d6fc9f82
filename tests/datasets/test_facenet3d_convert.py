"""3DFaceNet CoarseData and FineData (stand-ins made with the BFM stand-in) → dataset folders in EG3D's frame and
units: the files, resume, FineData placed on the model, the command line, and train-depth on both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.cli import main as cli_main
from helpers.dataset_folder.layout import DatasetFolderError
from helpers.dataset_folder.manifest import read_samples
from helpers.dataset_folder.reader import DatasetFolder
from helpers.datasets.facenet3d import (
    CoarseParams,
    FaceModel,
    FineOptions,
    convert_coarse,
    convert_fine,
    write_coarse_params,
    write_standin_model,
)
from helpers.datasets.facenet3d.facenet3d_convert import DEPTH_RANGE
from helpers.datasets.facenet3d.facenet3d_data import load_coarse_sample
from helpers.depth import EvaluationConfig, evaluate_depth_model, load_depth_model
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.mesh import load_mesh
from tests.depth.conftest import TINY_UNET_FLAGS

SIZE = 64
FINE_OFFSET = 40.0  # the stand-in FineData heights sit this many pixels above the model's


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Ten stand-in CoarseData samples in two subject folders (images 160×150), each also with a FineData height map
    (the model's surface, raised by FINE_OFFSET, with fine ripples), float32 ``.npy`` beside the image."""
    root = tmp_path_factory.mktemp("facenet3d")
    write_standin_model(root / "bfm", grid=24, trim_file="model_info.mat")
    model = FaceModel.from_files(root / "bfm")
    rng = np.random.default_rng(0)
    for i in range(10):
        folder = root / "data" / f"subject{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        params = CoarseParams(identity=1e4 * rng.standard_normal(100), expression=1e4 * rng.standard_normal(79),
                              angles=rng.uniform([-0.2, -0.8, -0.15], [0.2, 0.8, 0.15]),
                              translation=np.array([75.0, 82.0]) + rng.uniform(-5, 5, 2), scale=5e-4)
        Image.fromarray(rng.integers(0, 255, (160, 150, 3), dtype=np.uint8)).save(folder / f"{i:02d}.jpg")
        write_coarse_params(folder / f"{i:02d}.txt", params)
        sample = load_coarse_sample(folder / f"{i:02d}.jpg", folder / f"{i:02d}.txt", model)
        ripple = 0.3 * np.sin(np.arange(150) / 2.0)[None, :]
        heights = np.where(sample["mask"], FINE_OFFSET - sample["depth"] + ripple, 0.0)
        np.save(folder / f"{i:02d}_depth.npy", heights.astype(np.float32))
    coarse = convert_coarse(root / "data", root / "coarse", root / "bfm", size=SIZE, progress=False)
    fine = convert_fine(root / "data", root / "fine", root / "bfm", size=SIZE, progress=False)
    return {"root": root, "bfm": root / "bfm", "data": root / "data", "coarse": coarse, "fine": fine}


def test_coarse_folder_is_an_eg3d_dataset_folder(sets):
    folder = DatasetFolder(sets["coarse"])
    assert len(folder) == 10 and folder.ids[0] == "subject0__00"
    assert (folder.near, folder.far) == DEPTH_RANGE
    sample = folder.load("subject1__03")
    assert sample.image.shape == (SIZE, SIZE, 3) and sample.depth.shape == (SIZE, SIZE)
    surface = sample.depth > 0
    assert 0.1 < surface.mean() < 0.9 and np.array_equal(surface, sample.mask > 0.5)
    assert 2.2 < sample.depth[surface].min() and sample.depth[surface].max() < 3.0  # ~2.7 from the camera, EG3D's
    record = sample.record
    assert set(record["head_pose_deg"]) == {"pitch", "yaw", "roll"} and len(record["camera"]) == 25
    landmarks = np.load(sets["coarse"] / record["files"]["landmarks"])
    assert landmarks.shape == (68, 3) and np.load(sets["coarse"] / record["files"]["landmarks2d"]).shape == (68, 2)
    mesh = load_mesh(sets["coarse"] / record["files"]["mesh"])
    assert np.abs(mesh.vertices).max() < 0.6  # EG3D world units: a head inside EG3D's box
    labels = json.loads((sets["coarse"] / "dataset.json").read_text())["labels"]
    assert len(labels) == 10 and all(len(camera) == 25 for _, camera in labels)


def test_fine_depth_is_placed_on_the_model(sets):
    coarse, fine = DatasetFolder(sets["coarse"]), DatasetFolder(sets["fine"])
    for sid in coarse.ids[:3]:
        record = fine.records[sid]
        assert record["fine_offset_px"] == pytest.approx(FINE_OFFSET, abs=0.35)  # the ripple's median, at most
        a, b = coarse.load(sid), fine.load(sid)
        both = (a.depth > 0) & (b.depth > 0)
        assert both.mean() > 0.1
        # Same surface in world units, up to the ripple (0.3 px: ~0.2 mm) and the nearest-pixel sampling of the
        # photo-sized map, which shows on the steep sides of the face.
        difference = np.abs(a.depth[both] - b.depth[both])
        assert np.median(difference) < 2e-3 and np.percentile(difference, 90) < 5e-3
    assert load_mesh(sets["fine"] / fine.records[coarse.ids[0]]["files"]["mesh"]).faces.shape[0] > 100


def test_resume_and_refusals(sets, tmp_path):
    out = tmp_path / "coarse"
    convert_coarse(sets["data"], out, sets["bfm"], size=SIZE, limit=3, progress=False)
    assert len(read_samples(out)) == 3
    convert_coarse(sets["data"], out, sets["bfm"], size=SIZE, progress=False)
    assert sorted(read_samples(out)) == sorted(read_samples(sets["coarse"]))
    first = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert first["camera"] == read_samples(sets["coarse"])[first["id"]]["camera"]  # the same sample either way
    with pytest.raises(DatasetFolderError, match="other settings"):
        convert_coarse(sets["data"], out, sets["bfm"], size=2 * SIZE, progress=False)
    with pytest.raises(DatasetFolderError, match="--bfm"):
        convert_coarse(sets["data"], tmp_path / "x", None, progress=False)
    with pytest.raises(DatasetFolderError, match="share no pixel"):
        convert_fine(sets["data"], tmp_path / "y", sets["bfm"], size=SIZE, progress=False,
                     fine=FineOptions(background=FINE_OFFSET, units_per_pixel=np.nan))


def test_command_line_converts_with_bfm(sets, tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["datasets", "convert", "3dfacenet-fine", str(sets["data"]), "--out", str(out), "--bfm",
                     str(sets["bfm"]), "--limit", "2", "--set", f"size={SIZE}", "--no-progress"]) == 0
    assert "3dfacenet-fine: converted" in capsys.readouterr().out
    assert len(read_samples(out)) == 2


def test_train_depth_on_converted_coarse_and_fine(sets, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["train-depth", str(sets["coarse"]), str(sets["fine"]), "--out", str(out), *TINY_UNET_FLAGS,
                     "--batch-size", "4", "--max-steps", "3", "--target", "metric_z", "--loss", "l1"]) == 0
    assert "done: 3 steps" in capsys.readouterr().out
    loaded = load_depth_model(out / "last.pt")
    dataset = DepthDataset([sets["coarse"], sets["fine"]], DepthDatasetConfig(image_size=32, depth_size=32))
    table, _ = evaluate_depth_model(loaded.model, loaded.config, dataset,
                                    EvaluationConfig(batch_size=5, progress=False))
    assert len(table) == 20 and table.n_valid == 20
    report = table.to_markdown()
    assert "### By head yaw" in report and "20 of 20 samples have a head yaw." in report
