"""One face from several photos (invert --same-person): a known face of the tiny generator seen from two cameras is
inverted into one pivot and one tuned generator that render both views; the command and its errors."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from helpers import cli
from helpers.base import cameras
from helpers.base.photo import tensor_to_image
from helpers.invert import pti
from helpers.invert.inversion import InversionConfig
from helpers.invert.same_person import invert_views
from tests.user_errors import one_line_error

CAMERAS = np.stack([cameras.camera_vector(yaw, 0.0)[0].numpy() for yaw in (-0.35, 0.35)])


def test_two_views_share_one_pivot_and_one_tuned_generator(generator, lpips):
    z = torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ws = generator.mapping(z, cameras.conditioning_camera(1))
        targets = [tensor_to_image(generator.synthesize(ws, torch.from_numpy(c[None]),
                                                        generator=torch.Generator().manual_seed(3))["image"])
                   for c in CAMERAS]
    smoke = pti.PTIConfig.preset("smoke")
    quick = dataclasses.replace(smoke, tuning=dataclasses.replace(smoke.tuning, steps=12))
    config = InversionConfig(pti=quick, mesh_resolution=32, mesh_level=0.0)
    result = invert_views(np.stack(targets), CAMERAS, generator, lpips, config)
    assert result.projection.ws.shape == (1, generator.num_ws, generator.w_dim)  # one pivot for both photos
    assert result.renders.shape == (2, *targets[0].shape) and result.depths.shape[0] == 2
    for metrics in result.metrics:  # each view is fitted by the same face
        assert metrics["tuned"]["psnr"] > metrics["projection"]["psnr"] + 3  # measured: +5.3 and +4.1 dB
    assert np.array_equal(result.projection.camera, CAMERAS)
    with pytest.raises(ValueError, match="one camera per view"):
        invert_views(np.stack(targets), CAMERAS[:1], generator, lpips, config)


def test_command_inverts_one_person_from_several_photos(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    astronaut = data.astronaut()
    Image.fromarray(astronaut).save(photos / "a.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(photos / "b.png")
    out = tmp_path / "out"
    args = ["invert", str(photos), "--same-person", "--out", str(out), "--checkpoint", "tiny-random", "--preset",
            "smoke", "--projection-steps", "2", "--tuning-steps", "2", "--lpips", "random", "--no-meshes",
            "--device", "cpu", "--no-progress"]
    assert cli.main(args) == 0
    assert "one face from 2 photos" in capsys.readouterr().out
    assert np.load(out / "cameras.npy").shape == (2, 25)
    assert {p.name for p in out.iterdir()} >= {"target_0.png", "target_1.png", "reconstruction_1.png", "pivot_w.npy",
                                              "generator_delta.safetensors", "inversion.json", "report.md"}
    info = json.loads((out / "inversion.json").read_text())
    yaws = [photo["quality"]["yaw_deg"] for photo in info["photos"]]
    assert yaws[0] == pytest.approx(-yaws[1], abs=3)  # the mirrored photo: the same face turned the other way
    assert (out / "report.md").read_text().count("\n| ") == 3  # header and one row per photo
    (photos / "b.png").unlink()
    one_line_error(capsys, args, "needs at least two photos")
