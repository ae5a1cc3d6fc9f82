"""Photo → EG3D on the astronaut with the tiny random generator: the whole chain, the batch builder
(failures logged, resume after a kill), and the ``invert`` command."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from helpers.base import cameras
from helpers.dataset_folder.manifest import read_samples
from helpers.dataset_folder.reader import DatasetFolder
from helpers.generation.sample_settings import MeshSettings
from helpers.invert import folder_inversion as batch
from helpers.invert import inversion, pti

pytest.importorskip("dlib", reason="needs the [face] extra: pip install dlib-bin face_recognition_models")

SMOKE = pti.PRESETS["smoke"]
QUICK = dataclasses.replace(SMOKE, projection=dataclasses.replace(SMOKE.projection, steps=2),
                            tuning=dataclasses.replace(SMOKE.tuning, steps=2))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two faces (the astronaut and her mirror image), a photo without a face and a text file named .jpg."""
    root = tmp_path_factory.mktemp("photos")
    astronaut = data.astronaut()
    Image.fromarray(astronaut).save(root / "astronaut.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(root / "astronaut_mirrored.jpg", quality=95)
    Image.fromarray(np.full((200, 300, 3), 127, np.uint8)).save(root / "blank.png")
    (root / "notes.jpg").write_text("not an image")
    return root


def test_invert_photo_astronaut(generator, lpips, photos):
    result = inversion.invert_photo(photos / "astronaut.png", generator, lpips,
                                    inversion.InversionConfig(pti=QUICK, mesh_resolution=32))
    assert result.target.shape == (512, 512, 3) and result.aligned.num_faces >= 1
    estimate = result.camera_estimate
    cam2world = result.camera[:16].reshape(4, 4).astype(np.float64)
    rotation = cam2world[:3, :3]
    assert np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-5) and np.linalg.det(rotation) > 0
    assert np.linalg.norm(cam2world[:3, 3]) == pytest.approx(cameras.RADIUS, abs=1e-4)
    assert result.camera[16] == pytest.approx(cameras.FOCAL)
    assert abs(estimate.yaw_deg) < 20 and abs(estimate.elevation_deg) < 20  # she faces the camera
    assert {"align", "camera", "projection", "tuning"} <= set(result.seconds)
    assert set(result.metrics) == {"projection", "tuned"}


def test_batch_logs_failures_and_resumes(tmp_path, monkeypatch, generator, lpips, photos):
    calls: list[str] = []
    real = inversion.invert_photo

    def counting(photo, *args, **kwargs):
        calls.append(photo.name)
        if photo.name == "astronaut_mirrored.jpg" and kill["armed"]:
            raise KeyboardInterrupt  # the process dies while inverting the second photo
        return real(photo, *args, **kwargs)

    kill = {"armed": True}
    monkeypatch.setattr(batch, "invert_photo", counting)  # where the batch looks it up
    config = batch.BatchConfig(checkpoint="tiny-random", inversion=inversion.InversionConfig(pti=QUICK),
                               lpips="random", mesh=MeshSettings(resolution=32, level=0.0), frames=2, progress=False)
    out = tmp_path / "set"
    with pytest.raises(KeyboardInterrupt):
        batch.invert_folder(photos, out, config, generator=generator, lpips=lpips, log=lambda *_: None)
    assert list(read_samples(out)) == ["astronaut"]  # finished before the kill; nothing partial visible
    first_image = (out / "images" / "astronaut.png").stat().st_mtime_ns

    kill["armed"] = False
    calls.clear()
    messages: list[str] = []
    report = batch.invert_folder(photos, out, config, generator=generator, lpips=lpips, log=messages.append)
    assert calls == ["astronaut_mirrored.jpg", "blank.png", "notes.jpg"]  # the finished photo is not redone
    assert (out / "images" / "astronaut.png").stat().st_mtime_ns == first_image
    assert report.written == ("astronaut_mirrored",) and set(report.failed) == {"blank", "notes"}
    failures = batch.read_failures(out)
    assert failures["blank"]["error"] == "NoFaceError"
    assert failures["notes"]["error"] == "ValueError" and "notes.jpg" in failures["notes"]["message"]
    assert any("blank.png" in m for m in messages)

    # The dataset reads back in the project's format, Prosopo-style: images are the aligned photos.
    dataset = DatasetFolder(out)
    assert len(dataset) == 2
    sample = dataset.load("astronaut")
    assert sample.image.shape == (512, 512, 3) and sample.latent.shape == (generator.w_dim,)
    assert sample.depth.shape == (generator.neural_rendering_resolution,) * 2
    assert np.array_equal(sample.image, np.asarray(Image.open(out / "inversions" / "astronaut" / "target.png")))
    record = sample.record
    assert record["category"] == "photo" and record["source"] == "astronaut.png"
    details = json.loads((out / "inversions" / "astronaut" / "inversion.json").read_text())
    assert details["quality"] == json.loads(json.dumps(record["quality"]))
    # Even two tuning steps bring the render closer to the photo (about +1.2 dB on both photos here).
    assert all(r["metrics"]["tuned"]["psnr"] > r["metrics"]["projection"]["psnr"] for r in read_samples(out).values())
    assert sample.mesh_path is not None and sample.mesh_path.exists()
    labels = json.loads((out / "dataset.json").read_text())["labels"]
    assert [name for name, _ in labels] == ["images/astronaut.png", "images/astronaut_mirrored.png"]
    assert (out / "inversions" / "astronaut" / "generator_delta.safetensors").exists()
    assert (out / "inversions" / "astronaut" / "orbit.gif").exists()
    # The mirrored photo's camera mirrors the original's yaw (same face, turned the other way).
    yaws = {r["id"]: r["yaw"] for r in read_samples(out).values()}
    assert yaws["astronaut"] == pytest.approx(-yaws["astronaut_mirrored"], abs=np.radians(3))

    # A third run has nothing to do; --retry-failed retries only the failures.
    calls.clear()
    report = batch.invert_folder(photos, out, config, generator=generator, lpips=lpips, log=lambda *_: None)
    assert calls == [] and len(report.skipped) == 4
    report = batch.invert_folder(photos, out, dataclasses.replace(config, retry_failed=True), generator=generator,
                                 lpips=lpips, log=lambda *_: None)
    assert sorted(calls) == ["blank.png", "notes.jpg"] and set(report.failed) == {"blank", "notes"}


def test_batch_refuses_changed_settings(tmp_path, generator, lpips, photos):
    single = tmp_path / "one"
    single.mkdir()
    (single / "blank.png").write_bytes((photos / "blank.png").read_bytes())
    config = batch.BatchConfig(checkpoint="tiny-random", inversion=inversion.InversionConfig(pti=QUICK),
                               lpips="random", mesh=None, progress=False)
    batch.invert_folder(single, tmp_path / "set", config, generator=generator, lpips=lpips, log=lambda *_: None)
    other = dataclasses.replace(config, inversion=inversion.InversionConfig(pti=SMOKE))
    with pytest.raises(Exception, match="projection"):
        batch.invert_folder(single, tmp_path / "set", other, generator=generator, lpips=lpips, log=lambda *_: None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no photos"):
        batch.invert_folder(tmp_path / "empty", tmp_path / "x", config, generator=generator, lpips=lpips)


def test_invert_command(tmp_path, photos, capsys):
    from helpers.cli import main

    out = tmp_path / "cli"
    code = main(["invert", str(photos / "astronaut.png"), "--out", str(out), "--checkpoint", "tiny-random",
                 "--preset", "smoke", "--projection-steps", "1", "--tuning-steps", "1", "--lpips", "random",
                 "--no-meshes", "--no-details", "--device", "cpu", "--no-progress"])
    assert code == 0
    assert "inverted 1 photos" in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert meta["settings"]["inversion"]["pti"]["projection"]["steps"] == 1
    assert list(read_samples(out)) == ["astronaut"] and not (out / "inversions").exists()
    report = (out / "report.md").read_text()  # the fit, overall and per head-yaw bin of the fitted camera
    assert "| tuned_psnr |" in report and "### By head yaw" in report and "| frontal (within ±20°) | 1 | 0 |" in report
    assert report.startswith("## Review first\n\nNo photo flagged (1 checked")  # the quality record's verdict
    quality = read_samples(out)["astronaut"]["quality"]
    assert quality["flags"] == [] and quality["fit_px"] < 20 and "lpips" in quality


def test_batch_uses_published_cameras_when_given(tmp_path, generator, lpips, photos):
    """EG3D's FFHQ dataset.json: a listed photo gets its published camera, the others the landmark fit."""
    labelled = cameras.camera_vector(0.3, -0.1)[0].numpy()
    labels = tmp_path / "dataset.json"
    labels.write_text(json.dumps({"labels": [["00000/astronaut.png", labelled.tolist()]]}))
    config = batch.BatchConfig(checkpoint="tiny-random", inversion=inversion.InversionConfig(pti=QUICK),
                               lpips="random", mesh=None, details=False, camera_labels=str(labels), progress=False)
    batch.invert_folder(photos, tmp_path / "set", config, generator=generator, lpips=lpips, log=lambda *_: None)
    records = read_samples(tmp_path / "set")
    assert records["astronaut"]["camera_source"] == "labels"
    assert np.allclose(records["astronaut"]["camera"], labelled)
    assert records["astronaut_mirrored"]["camera_source"] == "landmarks"
