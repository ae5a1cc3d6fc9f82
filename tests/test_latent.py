"""Latent-code regression: dataset, encoder, evaluation, learning on tiny-random EG3D data, inference, CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers import eg3d
from helpers.cli import main as cli_main
from helpers.data import generate as gen
from helpers.data.augment import AugmentConfig
from helpers.data.depth_dataset import DepthDatasetConfig
from helpers.data.folder import DatasetFolder
from helpers.latent.dataset import LatentDataset
from helpers.latent.encoder import LatentEncoder, LatentEncoderConfig, load_latent_encoder, save_latent_encoder
from helpers.latent.evaluate import latent_errors
from helpers.latent.infer import novel_views, reconstruct_photo


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """24 tiny-random EG3D samples (image 512², depth 32², latents, cameras)."""
    out = tmp_path_factory.mktemp("latent") / "data"
    gen.generate(gen.GenerateConfig(out=out, seeds=tuple(range(24)), checkpoint="tiny-random",
                                    settings=gen.SampleSettings(), batch_size=4, device="cpu", workers=2,
                                    progress=False), log=lambda *_: None)
    return out


@pytest.fixture(scope="module")
def generator():
    return eg3d.load("tiny-random").eval()


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
    assert "w_avg baseline" in printed and "below the w_avg baseline" in printed
    assert math.isfinite(float((tmp_path / "cli" / "epochs.csv").read_text().splitlines()[1].split(",")[3]))


def test_pti_starts_from_the_predicted_w(generator):
    """With zero projection steps the pivot is exactly the encoder's prediction for the aligned photo."""
    pytest.importorskip("dlib", reason="needs the [face] extra")
    import dataclasses

    from skimage import data

    from helpers.invert.inversion import InversionConfig
    from helpers.invert.lpips import load_lpips
    from helpers.invert.pti import PRESETS
    from helpers.latent.infer import invert_from_prediction, predict_w

    encoder = LatentEncoder(LatentEncoderConfig(input_size=32, width=4), generator.backbone.mapping.w_avg)
    with torch.no_grad():
        encoder.head[-1].weight.normal_(std=0.01)  # a prediction that is not w_avg
    smoke = PRESETS["smoke"]
    pti = dataclasses.replace(smoke, projection=dataclasses.replace(smoke.projection, steps=0),
                              tuning=dataclasses.replace(smoke.tuning, steps=1))
    result = invert_from_prediction(data.astronaut(), encoder, generator, load_lpips("random"),
                                    InversionConfig(pti=pti))
    expected = predict_w(result.target, encoder)[0].numpy()
    assert np.allclose(result.w, expected, atol=1e-6)
    assert not np.allclose(result.w, generator.backbone.mapping.w_avg.numpy())
