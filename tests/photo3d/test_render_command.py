"""``python -m helpers render`` on the tiny generator: a latent in each stored shape, a seed, a dataset sample and an
inversion (a pivot w with a tuned generator as a weight delta) → image, depth, mask, mesh and views; its errors."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli
from helpers.base import cameras
from helpers.base.depth_png import read_depth_png
from helpers.dataset_folder.reader import DatasetFolder
from helpers.eg3d import EG3DSubject, generator_identity, load
from helpers.generation import generate_dataset as gen
from helpers.invert.weight_delta import save_weight_delta, weight_delta
from tests.user_errors import one_line_error

TINY = ["--checkpoint", "tiny-random", "--device", "cpu", "--no-progress"]
FAST = ["--mesh-resolution", "0", "--views="]


@pytest.fixture(scope="module")
def generator():
    return load("tiny-random")


def _image(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_a_latent_in_every_stored_shape_renders_the_same_face(generator, tmp_path):
    rng = np.random.default_rng(0)
    w = (0.3 * rng.standard_normal(generator.config.w_dim)).astype(np.float32)
    shapes = {"w": w, "w1": w[None], "ws": np.repeat(w[None], generator.config.num_ws, 0),
              "original": np.repeat(w[None], generator.config.num_ws, 0)[None]}
    for name, array in shapes.items():
        np.save(tmp_path / f"{name}.npy", array)
        assert cli.main(["render", "--latent", str(tmp_path / f"{name}.npy"), "--out", str(tmp_path / "out"),
                         *TINY, *FAST]) == 0
    images = [_image(tmp_path / "out" / name / "image.png") for name in shapes]
    assert all(np.array_equal(images[0], image) for image in images[1:])
    ws = torch.from_numpy(shapes["ws"])[None]
    expected = EG3DSubject(generator, ws, "w").render_maps(cameras.camera_vector(0.0, 0.0)[0].numpy())
    assert np.array_equal(images[0], expected["image"])
    assert np.array_equal(np.load(tmp_path / "out" / "w" / "latent.npy"), w)  # stored as w: all layers equal


def test_a_seed_with_mesh_views_and_a_camera(generator, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["render", "--seed", "3", "--trunc", "0.5", "--yaw", "0.4", "--views=-0.3,0.3",
                     "--mesh-resolution", "24", "--mesh-level", "0.8", "--clean-mesh", "--out", str(out), *TINY]) == 0
    folder = out / "seed3"
    info = json.loads((folder / "render.json").read_text())
    subject = EG3DSubject.from_seed("tiny-random", 3, 0.5, device="cpu")
    maps = subject.render_maps(cameras.camera_vector(0.4, 0.0)[0].numpy())
    assert np.array_equal(_image(folder / "image.png"), maps["image"])
    depth = read_depth_png(folder / "depth.png", *info["depth_range"])
    surface = maps["opacity"] >= 0.5
    np.testing.assert_allclose(depth[surface], maps["depth"][surface], atol=1e-4)
    assert np.array_equal(_image(folder / "mask.png") > 0, surface)
    assert _image(folder / "views.png").shape[1] == 2 * maps["image"].shape[1]
    assert info["mesh_faces"] > 0 and "mesh_clean" in info and (folder / "mesh.ply").is_file()


def test_a_dataset_sample_uses_its_latent_and_camera(tmp_path):
    data = tmp_path / "set"
    gen.generate(gen.GenerateConfig(out=data, seeds=(0, 1), checkpoint="tiny-random", batch_size=2, device="cpu",
                                    progress=False), log=lambda *_: None)
    sample = DatasetFolder(data).load("seed00000001")
    assert cli.main(["render", "--sample", f"{data}:seed00000001", "--out", str(tmp_path / "out"),
                     "--device", "cpu", "--no-progress", *FAST]) == 0  # the checkpoint comes from meta.json
    folder = tmp_path / "out" / "seed00000001"
    np.testing.assert_array_equal(np.load(folder / "camera.npy"), sample.camera)
    np.testing.assert_allclose(np.load(folder / "latent.npy"), sample.latent, atol=0)
    assert json.loads((folder / "render.json").read_text())["source"]["checkpoint"] == "tiny-random"


def test_an_inversion_renders_with_its_tuned_generator(generator, tmp_path):
    tuned = copy.deepcopy(generator)
    with torch.no_grad():
        for parameter in tuned.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    folder = tmp_path / "inversions" / "face"
    folder.mkdir(parents=True)
    w = (0.2 * np.random.default_rng(1).standard_normal(generator.config.w_dim)).astype(np.float32)
    np.save(folder / "pivot_w.npy", w)
    camera = cameras.camera_vector(-0.2, 0.05)[0].numpy()
    np.save(folder / "camera.npy", camera)
    save_weight_delta(weight_delta(generator, tuned), folder / "generator_delta.safetensors",
                      base=generator_identity(generator))
    assert cli.main(["render", "--inversion", str(folder), "--out", str(tmp_path / "out"), "--device", "cpu",
                     "--no-progress", *FAST]) == 0
    ws = torch.from_numpy(np.repeat(w[None], generator.config.num_ws, 0))[None]
    expected = EG3DSubject(tuned, ws, "tuned").render_maps(camera)["image"]
    image = _image(tmp_path / "out" / "face" / "image.png")
    assert np.abs(image.astype(int) - expected.astype(int)).max() <= 1
    base = EG3DSubject(generator, ws, "base").render_maps(camera)["image"]
    assert np.abs(image.astype(int) - base.astype(int)).max() > 5  # the delta was applied


def test_errors_are_one_line(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((3, 7), np.float32))
    one_line_error(capsys, ["render", "--latent", str(tmp_path / "bad.npy"), "--out", str(tmp_path), *TINY],
                   "neither w")
    one_line_error(capsys, ["render", "--latent", str(tmp_path / "none.npy"), "--out", str(tmp_path), *TINY],
                   "no such latent file")
    one_line_error(capsys, ["render", "--sample", "nocolon", "--out", str(tmp_path), *TINY], "DATASET:ID")
    one_line_error(capsys, ["render", "--inversion", str(tmp_path), "--out", str(tmp_path), *TINY],
                   "generator_delta.safetensors")
