"""Photo → 3D on the astronaut (scikit-image, public domain): the common start equals ``invert``'s, each method runs
offline (random depth U-Net, random encoder, the tiny random generator, random LPIPS), and the files and the command
line hold what the record promises."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from helpers import cli
from helpers.depth.models import DepthModelConfig, build_depth_model, save_depth_model
from helpers.invert.align import AlignConfig, MultipleFacesError, NoFaceError, align_face
from helpers.invert.inversion import InversionConfig, prepare_photo
from helpers.invert.pti import PTIConfig
from helpers.latent.encoder import LatentEncoder, LatentEncoderConfig, save_latent_encoder
from helpers.photo3d import PhotoConfig, PhotoReconstructor, reconstruct_photo, save_photo_reconstruction

SMOKE = PTIConfig.preset("smoke")
QUICK = dataclasses.replace(SMOKE, projection=dataclasses.replace(SMOKE.projection, steps=1),
                            tuning=dataclasses.replace(SMOKE.tuning, steps=1))
RECORD_KEYS = {"method", "model", "photo_size", "crop", "landmarks", "camera", "camera_fit", "depth_range",
               "depth_range_assumed", "mesh", "seconds"}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def unet(tmp_path_factory) -> str:
    torch.manual_seed(0)
    config = DepthModelConfig(start_filts=4, n_blocks=3, input_size=32)
    return str(save_depth_model(build_depth_model(config), config, tmp_path_factory.mktemp("unet") / "unet.pt"))


@pytest.fixture(scope="module")
def encoder(tmp_path_factory, generator) -> str:
    torch.manual_seed(0)
    model = LatentEncoder(LatentEncoderConfig(input_size=32, width=4), generator.backbone.mapping.w_avg)
    return str(save_latent_encoder(model, tmp_path_factory.mktemp("encoder") / "encoder.pt"))


def test_the_start_is_invert_s_crop_and_camera(astronaut, unet):
    rec = reconstruct_photo(astronaut, PhotoConfig(model=unet, resolution=32, device="cpu"))
    prepared = prepare_photo(astronaut, InversionConfig())
    assert np.array_equal(rec.aligned.image, prepared.aligned.image)
    assert np.array_equal(rec.aligned.quad, prepared.aligned.quad)
    assert np.array_equal(rec.camera, prepared.camera)
    assert abs(rec.camera_estimate.yaw_deg) < 5 and abs(rec.camera_estimate.elevation_deg) < 8  # a frontal portrait


def test_no_face_and_two_faces_fail_as_invert_does(astronaut, unet):
    blank = np.full((256, 256, 3), 128, np.uint8)
    with pytest.raises(NoFaceError) as ours:
        reconstruct_photo(blank, PhotoConfig(model=unet, device="cpu"))
    with pytest.raises(NoFaceError) as theirs:
        prepare_photo(blank, InversionConfig())
    assert str(ours.value) == str(theirs.value)
    pair = np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)
    with pytest.raises(MultipleFacesError):
        reconstruct_photo(pair, PhotoConfig(model=unet, face="only", device="cpu"))
    second = reconstruct_photo(pair, PhotoConfig(model=unet, face=1, resolution=32, device="cpu"))
    assert second.aligned.face_index == 1 and second.aligned.num_faces == 2


def test_depth_method_back_projects_through_the_fitted_camera(astronaut, unet, tmp_path):
    rec = reconstruct_photo(astronaut, PhotoConfig(model=unet, resolution=32, device="cpu"))
    assert rec.method == "depth" and rec.depth_range_assumed and rec.depth_range == (2.35, 2.72)
    assert rec.depth.shape == (32, 32) and rec.mask.any() and np.all(rec.depth[~rec.mask] == 0)
    # The mesh is in the world frame of the fitted camera: each vertex is at its depth in front of that camera.
    cam2world = rec.camera[:16].reshape(4, 4).astype(np.float64)
    local = (rec.mesh.vertices - cam2world[:3, 3]) @ cam2world[:3, :3]
    assert local[:, 2].min() >= 2.35 - 1e-4 and local[:, 2].max() <= 2.72 + 1e-4
    files = save_photo_reconstruction(rec, tmp_path / "astronaut", frames=2)
    record = json.loads(files["record"].read_text())
    assert RECORD_KEYS <= set(record) and record["model"]["source"] == unet
    assert np.asarray(record["crop"]["quad"]).shape == (4, 2) and np.asarray(record["landmarks"]["photo"]).shape == (68, 2)
    assert len(record["camera"]) == 25 and record["depth_range_assumed"] is True
    assert set(record["files"]) >= {"overview", "depth", "mesh", "mesh_obj", "turntable", "viewer"}
    with Image.open(files["turntable"]) as gif:
        assert gif.n_frames == 2
    assert "plotly" in files["viewer"].read_text()


def test_aligned_crops_keep_their_frame(astronaut, unet):
    crop = align_face(astronaut, AlignConfig()).image
    rec = reconstruct_photo(crop, PhotoConfig(model=unet, aligned=True, resolution=32, device="cpu"))
    assert np.array_equal(rec.aligned.image, crop)
    direct = reconstruct_photo(astronaut, PhotoConfig(model=unet, resolution=32, device="cpu"))
    error = np.linalg.norm(rec.aligned.landmarks - direct.aligned.landmarks, axis=1)  # detected again on the crop
    assert error.mean() < 3 and error.max() < 8  # pixels of the 512² crop
    assert abs(rec.camera_estimate.yaw_deg - direct.camera_estimate.yaw_deg) < 2
    with pytest.raises(ValueError, match="square"):
        reconstruct_photo(crop[:, :400], PhotoConfig(model=unet, aligned=True, device="cpu"))


def test_latent_and_pti_methods_render_eg3d_through_the_fitted_camera(astronaut, encoder):
    reconstructor = PhotoReconstructor(PhotoConfig(method="latent", model=encoder, generator="tiny-random",
                                                   mesh_resolution=24, mesh_level=0.0, device="cpu"))
    latent = reconstructor.reconstruct(astronaut)
    assert latent.image.shape == (512, 512, 3) and latent.depth.shape == (32, 32) and not latent.depth_range_assumed
    assert latent.mesh.num_faces > 0 and latent.depth_range[0] > 2 and latent.record()["method"] == "latent"
    pti = reconstruct_photo(astronaut, PhotoConfig(method="pti", generator="tiny-random", lpips="random", pti=QUICK,
                                                   mesh_resolution=24, mesh_level=0.0, device="cpu"))
    assert pti.model == "PTI of tiny-random" and np.array_equal(pti.camera, latent.camera)
    assert pti.mask.any() and np.all(pti.depth[~pti.mask] == 0) and "pti" in pti.seconds


def test_command_writes_a_folder_per_photo_and_logs_failures(astronaut, unet, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "astronaut.png")
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(photos / "wall.png")
    out = tmp_path / "out"
    args = ["reconstruct", str(photos), "--model", unet, "--out", str(out), "--resolution", "32", "--frames", "0",
            "--device", "cpu"]
    assert cli.main(args) == 1  # one photo failed; the other was reconstructed
    assert (out / "astronaut" / "reconstruction.json").is_file() and not (out / "wall").exists()
    failure = json.loads((out / "failures.jsonl").read_text().splitlines()[0])
    assert failure["id"] == "wall" and failure["error"] == "NoFaceError"
    assert "NoFaceError" in capsys.readouterr().err
    assert cli.main(["reconstruct", str(photos / "astronaut.png"), "--model", str(tmp_path / "nope.pt"),
                     "--out", str(out)]) == 2
    assert cli.main(["reconstruct", str(tmp_path / "missing.png"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("error: ") == 2


def test_command_records_quality_and_lists_flagged_photos_first(astronaut, unet, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "astronaut.png")
    Image.fromarray(np.asarray(Image.fromarray(astronaut).resize((240, 240)))).save(photos / "small.png")
    out = tmp_path / "out"
    assert cli.main(["reconstruct", str(photos), "--model", unet, "--out", str(out), "--resolution", "32",
                     "--frames", "0", "--device", "cpu"]) == 0
    assert "flagged: small face" in capsys.readouterr().out
    record = json.loads((out / "small" / "reconstruction.json").read_text())
    assert record["quality"]["enlargement"] > 4 and record["quality"]["flags"]
    assert json.loads((out / "astronaut" / "reconstruction.json").read_text())["quality"]["flags"] == []
    summary = (out / "summary.md").read_text()
    assert "1 of 2 photos flagged" in summary and "| small | small face" in summary
