"""FID and KID: our Inception against pytorch-fid's, our distances against EG3D's metrics/ (recorded fixture, the
weights made by a rule both sides repeat), and the ``fid`` command on the tiny generator (cached reference statistics,
LPFF's camera modes, errors)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli
from helpers.base import cameras
from helpers.eg3d import load
from helpers.generation.fid import FeatureStats, frechet_distance, generator_features, kernel_distance
from helpers.generation.inception import FIDInception, load_fid_inception, write_random_weights
from tests.user_errors import one_line_error

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "fid_reference" / "fid_reference.npz"


def rule_tensor(key: str, like: torch.Tensor) -> torch.Tensor:
    """The fixture's weights: seeded by the key's CRC32 (tests/fixtures/fid_reference/README.md)."""
    rng = np.random.RandomState(zlib.crc32(key.encode()))
    shape = tuple(like.shape)
    if key.endswith("num_batches_tracked"):
        return torch.zeros_like(like)
    if key.endswith("conv.weight"):
        values = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))
    elif key.endswith("bn.weight") or key.endswith("running_var"):
        values = rng.uniform(0.5, 1.5, shape)
    elif key.endswith("bn.bias") or key.endswith("running_mean"):
        values = rng.uniform(-0.1, 0.1, shape)
    else:
        values = rng.standard_normal(shape) * 0.01
    return torch.from_numpy(values.astype(np.float32))


@pytest.fixture(scope="module")
def rule_weights(tmp_path_factory) -> Path:
    """The rule's state dict saved as pytorch-fid's file is laid out (with its classifier, as the published one)."""
    model = FIDInception()
    state = {k: rule_tensor(k, v) for k, v in model.state_dict().items()}
    state.update({"fc.weight": rule_tensor("fc.weight", torch.zeros(1008, 2048)),
                  "fc.bias": rule_tensor("fc.bias", torch.zeros(1008))})
    path = tmp_path_factory.mktemp("inception") / "pt_inception-rule.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(FIXTURE))


def test_features_match_pytorch_fid(rule_weights, reference):
    model = load_fid_inception(rule_weights)
    for images, expected in (("square", "features_square"), ("wide", "features_wide")):
        x = torch.from_numpy(reference[images]).float() / 255
        with torch.no_grad():
            ours = model(x).numpy()
        scale = np.abs(reference[expected]).max()
        assert np.abs(ours - reference[expected]).max() <= 1e-4 * scale


def test_distances_match_eg3d(reference):
    real = np.random.RandomState(1).standard_normal((1000, 128)) * 0.5 + 0.1
    g = np.random.RandomState(2)
    gen = g.standard_normal((1000, 128)) * 0.55 + 0.12 + 0.05 * g.standard_normal(128)
    real, gen = real.astype(np.float32), gen.astype(np.float32)
    fid = frechet_distance(FeatureStats.of(gen), FeatureStats.of(real))
    assert fid == pytest.approx(float(reference["fid"]), rel=1e-3)
    # Subsets as large as the sets: every draw is a permutation, so EG3D's KID is the same whatever the draws.
    kid = kernel_distance(gen, real, num_subsets=3, max_subset_size=1000)
    assert kid == pytest.approx(float(reference["kid"]), rel=1e-3)
    assert frechet_distance(FeatureStats.of(real), FeatureStats.of(real)) == pytest.approx(0.0, abs=1e-6)


def test_load_refuses_other_weights(tmp_path):
    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not the FID Inception weights"):
        load_fid_inception(tmp_path / "other.pth")


def _labels(path: Path, yaws) -> Path:
    path.write_text(json.dumps({"labels": [[f"img{i}.png", cameras.camera_vector(y, 0.0)[0].tolist()]
                                           for i, y in enumerate(yaws)]}))
    return path


def test_camera_modes(rule_weights, tmp_path, monkeypatch):
    """EG3D's protocol conditions on the rendering camera; LPFF's modes fix it (avg) or draw it from other labels."""
    generator = load("tiny-random")
    render = _labels(tmp_path / "render.json", [0.8])
    other = _labels(tmp_path / "other.json", [-0.5])
    seen = []
    original = generator.mapping
    monkeypatch.setattr(generator, "mapping", lambda z, c, **kw: seen.append(c.clone()) or original(z, c, **kw))
    model = load_fid_inception(rule_weights)
    for conditioning in ("render", "avg", str(other)):
        features = generator_features(generator, model, 2, render_labels=render, conditioning=conditioning,
                                      batch_size=2, progress=False)
        assert features.shape == (2, 2048)
    yaws = [float(cameras.orbit_angles(cameras.unpack(c[0].double())[0])[0]) for c in seen]
    assert yaws == pytest.approx([0.8, 0.0, -0.5], abs=1e-5)


def _noise_images(folder: Path, count: int, size: int, *, seed: int) -> Path:
    """``count`` random-noise PNGs of ``size``² in a new ``folder``."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def test_command_scores_a_generator_and_caches_the_reference(rule_weights, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HELPERS_CACHE", str(tmp_path / "cache"))
    ref = _noise_images(tmp_path / "ref", 4, 64, seed=0)
    _labels(ref / "dataset.json", [-0.3, 0.0, 0.3])
    args = ["fid", "--checkpoint", "tiny-random", "--reference", str(ref), "--num", "2", "--batch-size", "2",
            "--inception", str(rule_weights), "--kid", "--device", "cpu", "--no-progress"]
    assert cli.main([*args, "--out", str(tmp_path / "fid.json")]) == 0
    first = json.loads((tmp_path / "fid.json").read_text())
    assert first["fid"] > 0 and "kid" in first and first["generated"] == 2 and first["reference"] == 4
    assert not first["reference_cached"] and list((tmp_path / "cache" / "fid").glob("*.npz"))
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "reference statistics from the cache" in out and f"FID {first['fid']:.4f}" in out  # same seed: same FID
    assert cli.main(["fid", "--folder", str(ref), "--reference", str(ref), "--inception", str(rule_weights),
                     "--device", "cpu", "--no-progress", "--out", str(tmp_path / "self.json")]) == 0
    assert abs(json.loads((tmp_path / "self.json").read_text())["fid"]) < 1e-2  # the folder against itself
    one_line_error(capsys, ["fid", "--checkpoint", "tiny-random", "--reference", str(tmp_path / "none")],
                   "no such reference folder")
    one_line_error(capsys, [*args, "--conditioning", "nope.json"], "--conditioning takes render, avg")
    (ref / "dataset.json").unlink()
    one_line_error(capsys, args, "no camera labels")


def test_random_stand_in_weights_load_and_repeat(tmp_path):
    state = torch.get_rng_state()
    paths = [write_random_weights(tmp_path / name, seed=3) for name in ("a.pth", "b.pth")]
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random numbers are untouched
    first, second = (load_fid_inception(path) for path in paths)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_random_inception_is_written_once_into_the_cache(tmp_path, monkeypatch):
    """``--inception random``: seeded stand-in weights, offline (smoke mode), written once and reused."""
    monkeypatch.setenv("HELPERS_CACHE", str(tmp_path / "cache"))
    ref = _noise_images(tmp_path / "ref", 3, 32, seed=1)
    args = ["fid", "--folder", str(ref), "--reference", str(ref), "--inception", "random", "--device", "cpu",
            "--no-progress", "--no-cache", "--out", str(tmp_path / "fid.json")]
    assert cli.main(args) == 0
    weights = tmp_path / "cache" / "fid" / "inception-random.pth"
    stamp = weights.stat().st_mtime_ns
    assert json.loads((tmp_path / "fid.json").read_text())["inception"] == str(weights)
    assert cli.main(args) == 0 and weights.stat().st_mtime_ns == stamp
    expected = write_random_weights(tmp_path / "again.pth")
    assert torch.equal(torch.load(weights)["Conv2d_1a_3x3.conv.weight"], torch.load(expected)["Conv2d_1a_3x3.conv.weight"])
