"""process-lpff: the astronaut, an EXIF-rotated copy, a photo with no face and a text file named .jpg through LPFF's
processing: the published layout, the filters with their reasons, the review by deleting debug images, the dataset
with mirrors and replicas, resume, and the command line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from skimage import data

from helpers import cli
from helpers.base import cameras
from helpers.base.errors import UserError
from helpers.dataset_folder.eg3d_export import export_eg3d
from helpers.dataset_folder.manifest import read_manifest, read_samples
from helpers.datasets.lpff import LpffFolder
from helpers.photo3d.lpff_faces import ProcessConfig
from helpers.photo3d.lpff_processing import process_lpff
from tests.user_errors import one_line_error

pytest.importorskip("dlib", reason="needs the [face] extra: pip install dlib-bin face_recognition_models")

QUIET = ProcessConfig(progress=False)


def _astronaut(scale: int = 2) -> np.ndarray:
    image = Image.fromarray(data.astronaut())
    return np.asarray(image.resize((512 * scale, 512 * scale), Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("lpff_photos")
    astronaut = _astronaut()
    Image.fromarray(astronaut).save(root / "astronaut.png")
    rotated = Image.fromarray(np.ascontiguousarray(np.rot90(astronaut, -1)))  # stored turned; EXIF turns it back
    exif = rotated.getexif()
    exif[0x0112] = 8  # orientation: rotate 90° counter-clockwise to display
    rotated.save(root / "rotated.jpg", exif=exif, quality=95)
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(root / "blank.png")
    (root / "notes.jpg").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def processed(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("lpff_out") / "out"
    return out, process_lpff(photos, out, QUIET)


def test_accepted_rejected_with_reasons(processed):
    out, report = processed
    assert report.accepted == ("astronaut_01", "rotated_01")
    assert set(report.rejected) == {"blank", "notes"}
    assert report.rejected["blank"].startswith("no face found")
    assert report.rejected["notes"].startswith("unreadable:") and "notes.jpg" in report.rejected["notes"]
    text = (out / "report.md").read_text()
    assert "| blank | no face found" in text and "| astronaut_01 | astronaut.png |" in text


def test_published_layout_reads_as_lpff(processed):
    out, _ = processed
    lpff = LpffFolder(out / "lpff")
    assert lpff.names == ["astronaut_01", "rotated_01"]
    # The EXIF-rotated copy is the same face seen the same way: the same camera within a fraction of a degree.
    yaws = [np.degrees(float(cameras.orbit_angles(cameras.unpack(lpff.camera(n))[0].astype(np.float64))[0]))
            for n in lpff.names]
    assert abs(yaws[0] - yaws[1]) < 1.0 and abs(yaws[0]) < 5
    assert Image.open(lpff.image_path("astronaut_01")).size == (512, 512)
    assert Image.open(lpff.extra_image_path("astronaut_01", "stylegan")).size == (1024, 1024)
    assert lpff.extra_image_path("astronaut_01", "realign") is None  # only with realign=True
    info = lpff.info("rotated_01")
    assert info["raw_image_name"] == "rotated.jpg" and info["fit_px"] < 20 and info["status"] == "accepted"
    landmarks = json.loads((out / "lpff" / "raw_lm.json").read_text())
    assert np.asarray(landmarks["astronaut_01"]).shape == (68, 2)
    # The rotated photo's landmarks are in its upright frame (the EXIF orientation applied): equal to the original's.
    assert np.allclose(landmarks["astronaut_01"], landmarks["rotated_01"], atol=4.0)
    assert sorted(p.name for p in (out / "lpff" / "debug").glob("*.png")) == ["astronaut_01.png", "rotated_01.png"]


def test_dataset_has_mirrors_replicas_and_loads_in_eg3d_form(processed, tmp_path):
    out, report = processed
    samples = read_samples(report.dataset)
    assert sorted(samples) == ["astronaut_01", "astronaut_01_mirror", "rotated_01", "rotated_01_mirror"]
    assert all(record["replicas"] >= 1 for record in samples.values())
    assert (report.dataset / samples["rotated_01_mirror"]["files"]["stylegan_image"]).is_file()
    mirror = np.asarray(Image.open(report.dataset / "stylegan" / "astronaut_01_mirror.png"))
    original = np.asarray(Image.open(out / "lpff" / "crop" / "stylegan" / "astronaut_01.png"))
    assert np.array_equal(mirror, original[:, ::-1])
    labels = json.loads((report.dataset / "dataset.json").read_text())["labels"]
    assert len(labels) == 4 and all(len(camera) == 25 for _, camera in labels)
    export = export_eg3d(report.dataset, tmp_path / "eg3d")
    exported = json.loads((export / "dataset.json").read_text())["labels"]
    assert len(exported) == sum(record["replicas"] for record in samples.values())


def test_review_drops_deleted_faces_and_resume_redoes_nothing(processed, photos, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(processed[0], out)
    (out / ".lock").unlink(missing_ok=True)
    crop = out / "lpff" / "crop" / "eg3d" / "astronaut_01.png"
    before = crop.stat().st_mtime_ns
    (out / "lpff" / "debug" / "rotated_01.png").unlink()  # the reviewer's verdict, as in LPFF
    report = process_lpff(photos, out, QUIET)
    assert report.accepted == ("astronaut_01",) and report.reviewed_out == ("rotated_01",)
    assert crop.stat().st_mtime_ns == before  # nothing processed again
    assert len(read_manifest(out / "lpff" / "faces.jsonl")) == 4
    assert sorted(read_samples(report.dataset)) == ["astronaut_01", "astronaut_01_mirror"]
    assert list(json.loads((out / "lpff" / "camera_parameters.json").read_text())) == ["astronaut_01"]
    assert "Dropped in review" in (out / "report.md").read_text()


def test_other_settings_are_refused(processed, photos, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(processed[0], out)
    (out / ".lock").unlink(missing_ok=True)
    with pytest.raises(UserError, match="other settings.*max_fit_px"):
        process_lpff(photos, out, ProcessConfig(max_fit_px=5.0, progress=False))


def _labels(path, yaws_deg):
    """An EG3D dataset.json of cameras at these yaws (and their mirrors, as FFHQ's), a stand-in for FFHQ's."""
    labels = []
    for i, yaw in enumerate(yaws_deg):
        for j, pitch in enumerate((-0.1, 0.0, 0.1)):
            camera = cameras.camera_from_angles(np.radians(yaw), pitch).numpy().astype(float)
            labels.append([f"{i:05d}_{j}.png", camera.tolist()])
    path.write_text(json.dumps({"labels": labels}))
    return str(path)


def test_filters_record_their_reasons(processed, photos, tmp_path):
    landmarks = str(processed[0] / "lpff" / "raw_lm.json")  # LPFF's form; the same faces without detection
    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(data.astronaut()).save(small / "astronaut.png")
    report = process_lpff(small, tmp_path / "a", QUIET)
    assert report.rejected["astronaut_01"].startswith("low resolution: the face's realign region is")
    assert (tmp_path / "a" / "lpff" / "debug" / "rejected" / "astronaut_01.png").is_file()

    report = process_lpff(photos, tmp_path / "b", ProcessConfig(max_fit_px=5.0, landmarks=landmarks, progress=False))
    assert report.accepted == () and report.dataset is None
    assert report.rejected["astronaut_01"].startswith("camera fit: the landmarks lie")

    frontal = _labels(tmp_path / "frontal.json", np.linspace(-15, 15, 31))  # a frontal face is common there
    report = process_lpff(photos, tmp_path / "c", ProcessConfig(ffhq_labels=frontal, landmarks=landmarks,
                                                                progress=False))
    assert report.rejected["astronaut_01"].startswith("common pose: its density under FFHQ's pose distribution")
    profile = _labels(tmp_path / "profile.json", [55, 60, 65, 70])  # … and rare here: kept, density recorded
    report = process_lpff(photos, tmp_path / "d", ProcessConfig(ffhq_labels=profile, landmarks=landmarks,
                                                                stylegan_crop=False, realign=True, progress=False))
    assert report.accepted == ("astronaut_01", "rotated_01")
    info = LpffFolder(tmp_path / "d" / "lpff").info("astronaut_01")
    assert 0 <= info["ffhq_density"] < 0.4
    assert Image.open(tmp_path / "d" / "lpff" / "realign2400" / "astronaut_01.png").size == (2400, 2400)
    assert not (tmp_path / "d" / "lpff" / "crop" / "stylegan").exists()


def test_command_line(photos, tmp_path, capsys):
    assert cli.main(["process-lpff", str(photos), "--out", str(tmp_path / "out"), "--no-progress", "--no-mirror",
                     "--no-stylegan-crop"]) == 0
    assert "2 faces accepted, 2 rejected" in capsys.readouterr().out
    assert sorted(read_samples(tmp_path / "out" / "dataset")) == ["astronaut_01", "rotated_01"]
    one_line_error(capsys, ["process-lpff", str(photos), "--out", str(tmp_path / "x"), "--ffhq-labels",
                            str(tmp_path / "missing.json")], "no such file", "--ffhq-labels")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for flag in ("--ffhq-labels", "--landmarks"):
        one_line_error(capsys, ["process-lpff", str(photos), "--out", str(tmp_path / "y"), flag, str(bad)], "bad.json")
    assert not (tmp_path / "y").exists()  # nothing written for a run that could not start
    twins = tmp_path / "twins"
    twins.mkdir()
    for name in ("face.png", "face.jpg"):
        (twins / name).write_bytes((photos / "astronaut.png").read_bytes())
    one_line_error(capsys, ["process-lpff", str(twins), "--out", str(tmp_path / "z")], "differ only in the extension")
