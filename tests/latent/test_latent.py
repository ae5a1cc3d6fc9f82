"""Latent-code regression: dataset, encoder, evaluation, learning on tiny-random EG3D data, inference, CLI."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers import eg3d
from helpers.base import cameras
from helpers.base.errors import UserError
from helpers.cli import main as cli_main
from helpers.dataset_folder.reader import DatasetFolder
from helpers.dataset_folder.splits import SplitConfig
from helpers.depth.data.augment import AugmentConfig
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.generation import generate_dataset as gen
from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset
from helpers.generation.sample_settings import SampleSettings
from helpers.latent.encoder import LatentEncoder, LatentEncoderConfig, load_latent_encoder, save_latent_encoder
from helpers.latent.evaluate_latent import latent_errors
from helpers.latent.infer import novel_views, reconstruct_photo
from helpers.latent.latent_dataset import LatentDataset
from helpers.latent.latent_training import LatentTrainConfig, train_latent
from helpers.training.training_config import OptimConfig


def _generate(out, n: int, generator=None):
    gen.generate(gen.GenerateConfig(out=out, seeds=tuple(range(n)), checkpoint="tiny-random",
                                    settings=SampleSettings(), batch_size=4, device="cpu", workers=2,
                                    progress=False), generator=generator, log=lambda *_: None)
    return out


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """96 tiny-random EG3D samples (image 512², depth 32², latents, cameras) from the default viewpoint mix."""
    return _generate(tmp_path_factory.mktemp("latent") / "data", 96)


class _PlaneMapping(nn.Module):
    """A mapping whose w is ``center + z[:, :K] @ directions``: a K-dimensional latent space (all ws equal)."""

    def __init__(self, mapping: nn.Module, num_ws: int, center: torch.Tensor, directions: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("w_avg", mapping.w_avg.clone())
        self.num_ws, self.center, self.directions = num_ws, center, directions

    def forward(self, z, c, truncation_psi=1.0, truncation_cutoff=None):
        w = self.center + z[:, :len(self.directions)] @ self.directions
        return w[:, None].expand(-1, self.num_ws, -1)


@pytest.fixture(scope="module")
def plane_data(tmp_path_factory):
    """64 samples of the tiny-random generator with w restricted to a plane through the data's mean w, along two
    directions with the data's per-dimension spread: here the image does determine w."""
    G = eg3d.tiny_random(seed=0).eval()
    mapping, rng = G.backbone.mapping, torch.Generator().manual_seed(3)
    with torch.no_grad():
        ws = G.mapping(torch.randn(2000, 512, generator=rng), cameras.conditioning_camera(2000), truncation_psi=0.7)
    w = ws[:, 0]
    G.backbone.mapping = _PlaneMapping(mapping, ws.shape[1], w.mean(0), torch.randn(2, 512, generator=rng) * w.std(0))
    return _generate(tmp_path_factory.mktemp("latent") / "plane", 64, generator=G)


def _train(data, out, steps: int) -> dict[str, dict[str, float]]:
    """A short CPU run (ResNet width 8 at 32², batch 8, lr 3e-3, a quarter of the ids for validation); the val
    means of the encoder and of the two baselines."""
    config = LatentTrainConfig(data=(str(data),), out=str(out), generator="tiny-random",
                               encoder=LatentEncoderConfig(input_size=32, width=8), augment=None,
                               splits=SplitConfig(train=0.75, val=0.25, test=0.0), batch_size=8,
                               optim=OptimConfig(lr=3e-3), epochs=1000, max_steps=steps, eval_every=5, workers=0,
                               device="cpu", progress=False)
    _, tables = train_latent(config, log=lambda *_: None)
    return {name: table.mean() for name, table in tables.items()}


def test_dataset_reads_the_stored_latents(tiny_data):
    dataset = LatentDataset(tiny_data, DepthDatasetConfig(image_size=32, depth_size=32,
                                                          augment=AugmentConfig(hflip=1.0, scale=(0.5, 0.5))))
    assert dataset.config.augment.hflip == 0.0 and dataset.config.augment.scale == (1.0, 1.0)  # photometric only
    folder = DatasetFolder(tiny_data)
    item = dataset[(3, 7)]
    assert torch.equal(item["w"], torch.from_numpy(folder.load(item["id"]).latent))
    assert item["image"].shape == (3, 32, 32) and dataset.wplus_samples == 0


def test_untrained_encoder_predicts_w_avg_and_round_trips(tmp_path):
    w_avg = torch.randn(16)
    for backbone, size in (("resnet", 32), ("tiny-random-dinov2", 28)):
        config = LatentEncoderConfig(backbone=backbone, input_size=size, width=4, w_dim=16, num_ws=3)
        torch.manual_seed(0)
        encoder = LatentEncoder(config, w_avg)
        images = torch.rand(2, 3, 40, 40)
        assert torch.allclose(encoder.predict(images), w_avg.expand(2, -1))
        with torch.no_grad():  # give the head weights so the round trip is tested on a non-trivial map
            encoder.head[-1].weight.normal_()
        loaded = load_latent_encoder(save_latent_encoder(encoder, tmp_path / f"{backbone}.pt"))
        assert torch.allclose(loaded.predict(images), encoder.predict(images), atol=1e-6)
    wplus = LatentEncoder(LatentEncoderConfig(input_size=32, width=4, w_dim=16, num_ws=3, wplus=True), w_avg)
    assert wplus.predict(torch.rand(2, 3, 32, 32)).shape == (2, 3, 16)


def test_latent_errors_by_hand():
    w = torch.zeros(2, 4)
    pred = torch.tensor([[1.0, -1.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    errors = latent_errors(pred, w, num_ws=3)
    assert errors["latent_l1"].tolist() == [0.5, 2.0] and errors["latent_l2"].tolist() == [0.5, 4.0]
    assert torch.equal(errors["ws_l1"], errors["latent_l1"])
    wplus = torch.stack([pred, pred, torch.zeros(2, 4)], dim=1)  # third layer exact
    assert torch.allclose(latent_errors(wplus, w, 3)["ws_l1"], torch.tensor([1 / 3, 4 / 3], dtype=torch.float64))


def test_short_training_beats_the_w_avg_baseline(tiny_data, tmp_path):
    """The issue's acceptance on tiny-random data: held-out latent error ≥ 30 % below predicting ``w_avg``, and the
    depth rendered from the predictions closer to the samples' depth than the ``w_avg`` render.

    On this generator the gain comes from learning the data's mean w: ``tiny_random``'s ``w_avg`` is a random
    vector (a trained generator's is the mean of its w), and its images carry almost nothing recoverable about w
    (``benchmarks/latent_learnability.py``: a ridge regression from the pixels, fitted on 300 samples, ends 1.6 %
    below the mean w's error), so the encoder ends level with the mean-w baseline.
    ``test_encoder_reads_w_from_the_image`` is where learning from the image is shown."""
    means = _train(tiny_data, tmp_path / "run", steps=150)
    encoder, w_avg, mean_w = means["encoder"], means["w_avg baseline"], means["mean-w baseline"]
    assert encoder["latent_l1"] <= 0.70 * w_avg["latent_l1"]
    assert encoder["mae"] < w_avg["mae"] and encoder["abs_rel"] < w_avg["abs_rel"]
    assert encoder["latent_l1"] <= 1.05 * mean_w["latent_l1"]


def test_encoder_reads_w_from_the_image(plane_data, tmp_path):
    """Where the image determines w (a 2-D latent space), a short run beats the best constant, the data's mean w,
    by a wide margin, on the latent and on the rendered depth."""
    means = _train(plane_data, tmp_path / "run", steps=150)
    encoder, mean_w = means["encoder"], means["mean-w baseline"]
    assert encoder["latent_l1"] <= 0.75 * mean_w["latent_l1"]
    assert encoder["mae"] <= 0.75 * mean_w["mae"]


def test_photo_to_mesh_and_views(tiny_data, generator):
    encoder = LatentEncoder(LatentEncoderConfig(input_size=32, width=4), generator.backbone.mapping.w_avg)
    photo = DatasetFolder(tiny_data).load(0).image
    rec = reconstruct_photo(photo, encoder, generator, mesh_resolution=32, level=0.5)
    assert rec.image.shape == (512, 512, 3) and rec.depth.shape == (32, 32) and rec.w.shape == (512,)
    assert np.allclose(rec.w, generator.backbone.mapping.w_avg.numpy())  # untrained: w_avg
    assert rec.mesh is not None and rec.mesh.num_faces > 0
    assert novel_views(generator, rec.ws, yaws=(-0.3, 0.3)).shape == (512, 1024, 3)


def test_cli_trains_and_reports_baselines(tiny_data, tmp_path, capsys):
    code = cli_main(["train-latent", str(tiny_data), "--out", str(tmp_path / "cli"), "--generator", "tiny-random",
                     "--input-size", "32", "--width", "4", "--max-steps", "2", "--batch-size", "4", "--workers", "0",
                     "--device", "cpu", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "below the w_avg baseline" in printed and "below the mean-w baseline" in printed
    assert math.isfinite(float((tmp_path / "cli" / "epochs.csv").read_text().splitlines()[1].split(",")[3]))


def test_pti_starts_from_the_predicted_w(generator, lpips):
    """With zero projection steps the pivot is exactly the encoder's prediction for the aligned photo."""
    pytest.importorskip("dlib", reason="needs the [face] extra")
    import dataclasses

    from skimage import data

    from helpers.invert.inversion import InversionConfig
    from helpers.invert.pti import PRESETS
    from helpers.latent.infer import invert_from_prediction, predict_w

    encoder = LatentEncoder(LatentEncoderConfig(input_size=32, width=4), generator.backbone.mapping.w_avg)
    with torch.no_grad():
        encoder.head[-1].weight.normal_(std=0.01)  # a prediction that is not w_avg
    smoke = PRESETS["smoke"]
    pti = dataclasses.replace(smoke, projection=dataclasses.replace(smoke.projection, steps=0),
                              tuning=dataclasses.replace(smoke.tuning, steps=1))
    result = invert_from_prediction(data.astronaut(), encoder, generator, lpips,
                                    InversionConfig(pti=pti))
    expected = predict_w(result.target, encoder)[0].numpy()
    assert np.allclose(result.w, expected, atol=1e-6)
    assert not np.allclose(result.w, generator.backbone.mapping.w_avg.numpy())


def test_a_bad_latent_is_named_before_training_and_skip_bad_trains_without_it(tmp_path):
    """A truncated latent file (issue 19, item 4): the dataset still opens, the item names the sample and the file,
    train-latent stops before its first step with the list, and ``skip_bad`` trains without the sample."""
    data = write_head_dataset(tmp_path / "heads", HeadDatasetConfig(count=12, image_size=32, depth_size=32, seed=2),
                              progress=False)
    splits = SplitConfig(train=0.75, val=0.25, test=0.0)
    data_config = DepthDatasetConfig(image_size=32, depth_size=32, split="train", splits=splits)
    bad = LatentDataset(data, data_config).ids[3]
    latent = data / "latents" / f"{bad}.npy"
    latent.write_bytes(latent.read_bytes()[:300])
    dataset = LatentDataset(data, data_config)
    with pytest.raises(UserError, match=rf"sample {bad}: cannot read {latent} \("):
        dataset[3]
    assert np.isfinite(dataset.mean_w()).all()

    config = LatentTrainConfig(data=(str(data),), out=str(tmp_path / "run"), generator="tiny-random",
                               encoder=LatentEncoderConfig(input_size=32, width=4), augment=None, splits=splits,
                               batch_size=4, max_steps=1, workers=0, device="cpu", progress=False)
    with pytest.raises(UserError, match=rf"1 of 12 samples cannot be read: {bad} \({latent}: truncated"):
        train_latent(config, log=lambda *_: None)
    result, _ = train_latent(dataclasses.replace(config, skip_bad=True), log=lambda *_: None)
    assert result.steps == 1 and f"{bad}\t{latent}\ttruncated" in (tmp_path / "run" / "bad_samples.txt").read_text()
