"""LPFF reader, pose angles, rebalancing, mirroring, conversion; EG3D's FFHQ labels and replicas.

Expected values are computed here independently of the library: the KDE from its formula (Scott's bandwidth,
Gaussian kernel) and the copies rule as a plain loop in the order of LPFF's published script.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.base import cameras
from helpers.base.captions import COLORBAR_HEIGHT, HEADER_HEIGHT
from helpers.dataset_folder.eg3d_export import export_eg3d
from helpers.dataset_folder.layout import DATASET_JSON, MANIFEST, DatasetFolderError
from helpers.dataset_folder.manifest import read_samples
from helpers.dataset_folder.meta import read_meta
from helpers.dataset_folder.reader import DatasetFolder
from helpers.datasets import ffhq_labels
from helpers.datasets.lpff import lpff_convert as lpff
from helpers.datasets.lpff.lpff_folder import (
    CAMERA_PARAMETERS,
    INFO,
    LpffFolder,
    LpffFormatError,
    check_pose,
    mirror_camera,
    mirror_name,
    read_camera_parameters,
    with_mirrors,
)
from helpers.datasets.lpff.pose_rebalance import (
    FFHQ_DENSITY_THRESHOLD,
    RebalanceRule,
    copies_from_density,
    pose_density,
    poses_of,
    rebalance_counts,
    rebalanced_labels,
    reference_density,
    repeated_names,
    theta_phi,
)

PIVOT = np.array(cameras.PIVOT)


# --------------------------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------------------------


def reference_kde(fit: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Gaussian KDE by its formula: covariance = sample covariance · n^(-1/3) (Scott: factor n^(-1/6), d = 2)."""
    n = len(fit)
    cov = np.cov(fit.T) * n ** (-1.0 / 3.0)
    inv = np.linalg.inv(cov)
    norm = 1.0 / (2.0 * math.pi * math.sqrt(np.linalg.det(cov)) * n)
    out = np.empty(len(points))
    for start in range(0, len(points), 512):
        diff = points[start:start + 512, None, :] - fit[None, :, :]
        out[start:start + 512] = np.exp(-0.5 * np.einsum("pni,ij,pnj->pn", diff, inv, diff)).sum(1) * norm
    return out


def published_copies(density: float) -> int:
    """The published rule, step by step with Python's round (halves to even)."""
    n = int(min(max(round(4 * 0.06 / density), 1), 4)) if density > 0 else 4
    if density < 0.02:
        n = 6
    elif density < 0.03:
        n = 5
    return n


def published_theta_phi(position: np.ndarray) -> tuple[float, float]:
    """θ, φ as LPFF's 0_compute_theta_phi.py writes them (valid for y != 0)."""
    x, y, z = (float(v) for v in position)
    phi = math.atan2(z, y)
    return math.atan2(y / math.cos(phi), x), phi


def rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    a = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    b = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    c = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return c @ b @ a


def lpff_like_camera(rng: np.random.Generator) -> np.ndarray:
    """An LPFF-style camera: a head-pose rotation (not a look-at), position 2.7 from the origin."""
    pose = np.eye(4)
    yaw, pitch, roll = rng.uniform(-1.2, 1.2), rng.uniform(-0.4, 0.4), rng.uniform(-0.2, 0.2)
    rot = rotation(pitch, yaw, roll) @ np.diag([1.0, -1.0, -1.0])  # camera looks along -z of the head frame
    pose[:3, :3] = rot
    pose[:3, 3] = -rot[:, 2] * 2.7 + rng.normal(scale=0.02, size=3)
    pose[:3, 3] *= 2.7 / np.linalg.norm(pose[:3, 3])
    k = [4.2647, 0.0, 0.5, 0.0, 4.2647, 0.5, 0.0, 0.0, 1.0]
    return np.concatenate([pose.reshape(-1), k])


def orbit_camera(yaw: float, pitch: float) -> np.ndarray:
    return cameras.camera_vector(yaw, pitch)[0].numpy()


# --------------------------------------------------------------------------------------------
# Pose angles
# --------------------------------------------------------------------------------------------


def test_theta_phi_match_the_published_formula_and_our_yaw():
    rng = np.random.default_rng(1)
    cams = np.stack([lpff_like_camera(rng) for _ in range(50)])
    theta, phi = theta_phi(cams)
    for cam, t, p in zip(cams, theta, phi):
        expected = published_theta_phi(cam[[3, 7, 11]])
        assert t == pytest.approx(expected[0], abs=1e-12)
        assert p == pytest.approx(expected[1], abs=1e-12)
    # On the level orbit θ = π/2 − yaw and φ = π/2; a camera above the face has φ < π/2.
    for yaw in (-0.7, 0.0, 0.4):
        t, p = theta_phi(orbit_camera(yaw, 0.0))
        assert t == pytest.approx(math.pi / 2 - yaw, abs=1e-5) and p == pytest.approx(math.pi / 2, abs=1e-5)
    assert theta_phi(orbit_camera(0.0, -0.2))[1] < math.pi / 2
    # (4, 4) matrices give the same as the vectors.
    np.testing.assert_allclose(poses_of(cams[:, :16].reshape(-1, 4, 4)), poses_of(cams))


# --------------------------------------------------------------------------------------------
# Rebalancing
# --------------------------------------------------------------------------------------------


def test_copies_rule_branches_and_order():
    cases = {
        1.0: 1,       # round(0.24) = 0, clipped up to 1
        0.2: 1,       # round(1.2)
        0.12: 2,      # round(2.0)
        0.08: 3,      # round(3.0)
        0.06: 4,      # round(4.0)
        0.04: 4,      # round(6.0) clipped down to 4
        0.03: 4,      # not < 0.03: round(8) clipped to 4
        0.0299: 5,    # below 0.03
        0.02: 5,      # not < 0.02
        0.0199: 6,    # below 0.02: checked first
        0.0: 6,       # no division error: the low-density rule decides
    }
    got = copies_from_density(list(cases))
    assert got.tolist() == list(cases.values())
    assert got.dtype == np.int64
    # Halves round to even as Python's round: 0.24 / 0.16 = 1.5 → 2, and a sweep agrees with the loop.
    sweep = np.concatenate([np.linspace(0.0005, 0.6, 4001), 0.24 / (np.arange(1, 9) + 0.5)])
    assert copies_from_density(sweep).tolist() == [published_copies(d) for d in sweep]
    with pytest.raises(ValueError, match=">= 0"):
        copies_from_density([0.1, float("nan")])


def test_rule_is_configurable():
    rule = RebalanceRule(scale=0.5, max_copies=8, low_density=((0.01, 10),))
    assert copies_from_density([0.05, 0.005], rule).tolist() == [8, 10]
    with pytest.raises(ValueError):
        RebalanceRule(min_copies=0)


def test_pose_density_is_the_gaussian_kde_of_all_poses():
    rng = np.random.default_rng(2)
    poses = np.stack([rng.normal(math.pi / 2, 0.3, 40), rng.normal(math.pi / 2, 0.15, 40)], -1)
    reference = np.stack([rng.normal(math.pi / 2, 0.2, 60), rng.normal(math.pi / 2, 0.1, 60)], -1)
    np.testing.assert_allclose(pose_density(poses), reference_kde(poses, poses), rtol=1e-10)
    both = np.concatenate([poses, reference])
    np.testing.assert_allclose(pose_density(poses, reference=reference), reference_kde(both, poses), rtol=1e-10)
    with pytest.raises(ValueError, match="on one line"):
        pose_density(np.zeros((5, 2)))


def synthetic_poses() -> np.ndarray:
    """A dense frontal grid (4,096 poses) plus groups of 9, 5, 3, a pair 0.06 apart and three lone poses: their
    KDE densities fall in every branch of the rule (checked by the test, not assumed)."""
    g = (np.arange(64) - 31.5) * 0.01
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)

    def group(cx: float, cy: float, k: int) -> list[tuple[float, float]]:
        return [(cx + 0.01 * (i % 3), cy + 0.01 * (i // 3)) for i in range(k)]

    sparse = (group(0.5, 0.0, 9) + group(0.9, 0.5, 5) + group(-1.0, 0.6, 3) + [(-0.9, -0.9), (-0.9, -0.84)]
              + [(1.3, -0.8), (1.4, 1.0), (-1.4, -1.0)])
    return math.pi / 2 + np.concatenate([grid, np.array(sparse)])


def test_rebalance_counts_reproduce_the_published_rule_on_known_densities():
    poses = synthetic_poses()
    density = reference_kde(poses, poses)
    expected = np.array([published_copies(d) for d in density])
    # Every branch is hit, and no density is near a decision boundary (the check does not hinge on rounding).
    assert set(expected.tolist()) == {1, 2, 3, 4, 5, 6}
    assert np.any((density > 0.03) & (0.24 / density > 4.5))  # the clip-to-4 branch
    quotient = 0.24 / density
    assert np.min(np.abs(quotient - np.round(quotient - 0.5) - 0.5)) > 1e-3
    assert np.min(np.abs(density[:, None] - np.array([0.02, 0.03])[None])) > 1e-4
    counts = rebalance_counts(poses)
    np.testing.assert_array_equal(counts, expected)
    assert counts[:4096].tolist() == [1] * 4096
    assert counts[-3:].tolist() == [6, 6, 6]


def test_rebalanced_labels_name_replicas_as_eg3d():
    rng = np.random.default_rng(3)
    cams = {f"face{i}": lpff_like_camera(rng) for i in range(3)}
    out = rebalanced_labels(cams, [2, 0, 1])
    assert [name for name, _ in out["labels"]] == ["face0_00", "face0_01", "face2_00"]
    labels = {"labels": [[f"a/{n}.png", c.tolist()] for n, c in cams.items()]}
    out = rebalanced_labels(labels, np.array([1, 3, 1]))
    assert [name for name, _ in out["labels"]] == ["a/face0_00.png", "a/face1_00.png", "a/face1_01.png",
                                                   "a/face1_02.png", "a/face2_00.png"]
    assert out["labels"][2][1] == cams["face1"].tolist()  # labels are copied exactly
    # Without counts the published rule decides (enough poses for a KDE).
    many = {f"f{i}": lpff_like_camera(rng) for i in range(12)}
    poses = poses_of(np.stack(list(many.values())))
    expected = [published_copies(d) for d in reference_kde(poses, poses)]
    assert len(rebalanced_labels(many)["labels"]) == sum(expected)
    assert repeated_names(["a", "b"], [2, 1]) == ["a", "a", "b"]
    with pytest.raises(ValueError, match="counts"):
        rebalanced_labels(cams, [1, 1])


# --------------------------------------------------------------------------------------------
# Mirroring
# --------------------------------------------------------------------------------------------


def eg3d_flip_yaw(camera: np.ndarray) -> np.ndarray:
    """EG3D's mirror: negate cam2world entries (0,1), (0,2), (1,0), (2,0), (0,3), intrinsics unchanged."""
    out = np.array(camera, dtype=np.float64)
    out[[1, 2, 4, 8, 3]] *= -1
    return out


@pytest.mark.parametrize("yaw,pitch", [(-0.9, 0.1), (-0.2, -0.15), (0.0, 0.0), (0.35, 0.2), (1.1, -0.05)])
def test_mirror_camera_negates_yaw_and_stays_a_camera_looking_at_the_pivot(yaw, pitch):
    cam = orbit_camera(yaw, pitch)
    mirrored = mirror_camera(cam)
    assert mirrored.dtype == np.float32 and mirrored.shape == (25,)
    np.testing.assert_array_equal(mirrored, eg3d_flip_yaw(cam).astype(np.float32))
    pose, k = cameras.unpack(mirrored.astype(np.float64))
    y0, p0, r0 = cameras.orbit_angles(cameras.unpack(cam.astype(np.float64))[0])
    y1, p1, r1 = cameras.orbit_angles(pose)
    assert y1 == pytest.approx(-y0, abs=1e-6) and p1 == pytest.approx(p0, abs=1e-6) and r1 == pytest.approx(r0)
    t0, f0 = theta_phi(cam)
    t1, f1 = theta_phi(mirrored)
    assert t1 == pytest.approx(math.pi - t0, abs=1e-6) and f1 == pytest.approx(f0, abs=1e-6)
    rot = pose[:3, :3]
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-6)
    assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-6)
    to_pivot = PIVOT - pose[:3, 3]
    np.testing.assert_allclose(rot[:, 2], to_pivot / np.linalg.norm(to_pivot), atol=1e-6)  # optical axis
    np.testing.assert_array_equal(k, cameras.unpack(cam.astype(np.float64))[1])
    np.testing.assert_array_equal(mirror_camera(mirrored), cam)  # twice = identity, exactly


def test_mirror_of_lpff_cameras_and_names():
    rng = np.random.default_rng(4)
    cams = {f"n{i}": lpff_like_camera(rng).astype(np.float32) for i in range(5)}
    both = with_mirrors(cams)
    assert list(both) == ["n0", "n0_mirror", "n1", "n1_mirror", "n2", "n2_mirror", "n3", "n3_mirror", "n4",
                          "n4_mirror"]
    for name, cam in cams.items():
        mirrored = both[mirror_name(name)]
        check_pose(mirrored, name)
        np.testing.assert_array_equal(mirror_camera(mirrored), cam)
    with pytest.raises(ValueError, match="collide"):
        with_mirrors({"a": cams["n0"], "a_mirror": cams["n1"]})


# --------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------


def make_lpff(root: Path, count: int = 6, *, size: int = 16, seed: int = 5, form: str = "dict",
              image_dir: str = "crop/eg3d", info: bool = True) -> dict[str, np.ndarray]:
    """A small LPFF folder in the published layout; returns {name: camera}."""
    rng = np.random.default_rng(seed)
    names = [f"{1000 + i}@N0{i}_{2000 + i}_0{i % 3}" for i in range(count)]
    cams = {name: lpff_like_camera(rng) for name in names}
    root.mkdir(parents=True, exist_ok=True)
    if form == "dict":
        text = json.dumps({n: c.tolist() for n, c in cams.items()}, indent=4)
    else:
        text = json.dumps({"labels": [[f"{i:05d}/{n}.png", c.tolist()] for i, (n, c) in enumerate(cams.items())]})
    (root / CAMERA_PARAMETERS).write_text(text)
    if info:
        meta = {n: {"raw_image_name": n[:-3], "image_info": {"license": {"name": "Attribution License"}}}
                for n in names}
        (root / INFO).write_text(json.dumps(meta))
    crops = root / image_dir
    crops.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(crops / f"{name}.png")
    return cams


@pytest.mark.parametrize("form", ["dict", "labels"])
def test_reader_reads_the_published_layout(tmp_path, form):
    cams = make_lpff(tmp_path, form=form)
    data = LpffFolder(tmp_path)
    assert data.names == sorted(cams) and len(data) == 6
    assert data.image_dir == tmp_path / "crop" / "eg3d"
    for name, cam in cams.items():
        sample = data.sample(name)
        np.testing.assert_array_equal(sample.camera, cam.astype(np.float32))
        assert sample.image_path == tmp_path / "crop" / "eg3d" / f"{name}.png"
        assert sample.info["image_info"]["license"]["name"] == "Attribution License"
    with pytest.raises(KeyError):
        data.sample("nobody")


def test_reader_finds_crops_elsewhere_and_reports_missing_ones(tmp_path):
    cams = make_lpff(tmp_path / "a", image_dir=".", info=False)
    data = LpffFolder(tmp_path / "a")
    assert data.image_dir == tmp_path / "a" and data.info(data.names[0]) is None
    # A camera without its crop: an error that says what to do, or skipped on request.
    missing = sorted(cams)[2]
    (tmp_path / "a" / f"{missing}.png").unlink()
    with pytest.raises(LpffFormatError, match="1 of 6 cameras have no crop"):
        LpffFolder(tmp_path / "a")
    data = LpffFolder(tmp_path / "a", missing="skip")
    assert data.skipped == [missing] and missing not in data.names
    # Crops passed explicitly; no crops at all.
    make_lpff(tmp_path / "b", image_dir="elsewhere")
    assert len(LpffFolder(tmp_path / "b", images=tmp_path / "b" / "elsewhere")) == 6
    with pytest.raises(LpffFormatError, match="no crops found"):
        LpffFolder(tmp_path / "b")


@pytest.mark.parametrize(
    "text,message",
    [
        ("{not json", "not a valid JSON file"),
        ("[1, 2, 3]", "got a JSON list"),
        ('{"a": [1, 2, 3]}', "'a'.*25 numbers"),
        ('{"a": "x"}', "'a'"),
        ('{"labels": [["a.png"]]}', r"labels\[0\]"),
        ("{}", "no cameras"),
    ],
)
def test_malformed_camera_parameters_give_clear_errors(tmp_path, text, message):
    (tmp_path / CAMERA_PARAMETERS).write_text(text)
    with pytest.raises(LpffFormatError, match=message) as info:
        read_camera_parameters(tmp_path / CAMERA_PARAMETERS)
    assert CAMERA_PARAMETERS in str(info.value)


def test_cameras_that_are_not_poses_are_refused(tmp_path):
    bad = lpff_like_camera(np.random.default_rng(6))
    bad[0] *= 2.0  # not a rotation any more
    (tmp_path / CAMERA_PARAMETERS).write_text(json.dumps({"face": bad.tolist()}))
    with pytest.raises(LpffFormatError, match="'face'.*not a rotation"):
        read_camera_parameters(tmp_path / CAMERA_PARAMETERS)
    with pytest.raises(LpffFormatError, match="no camera_parameters.json"):
        LpffFolder(tmp_path / "..")


# --------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------


def test_convert_writes_our_folder_with_mirrors_and_replicas(tmp_path):
    src, out = tmp_path / "lpff", tmp_path / "out"
    cams = make_lpff(src, count=6)
    lpff.convert_lpff(src, out, mirror=True, rebalance=True, progress=False)

    records = read_samples(out)
    assert sorted(records) == sorted([*cams, *(f"{n}_mirror" for n in cams)])
    meta = read_meta(out)
    assert meta["generator"]["name"] == "lpff" and meta["settings"]["mirror"] is True
    assert "depth_png" not in meta
    all_cams = np.stack([np.asarray(records[i]["camera"]) for i in sorted(records)])
    poses = poses_of(all_cams)
    expected = dict(zip(sorted(records), (published_copies(d) for d in reference_kde(poses, poses))))
    for sid, record in records.items():
        assert set(record["files"]) == {"image", "camera"}
        camera = np.load(out / record["files"]["camera"])
        np.testing.assert_array_equal(camera, np.asarray(record["camera"], dtype=np.float32))
        assert record["replicas"] == expected[sid]
        name = record["name"]
        source = np.asarray(Image.open(src / "crop" / "eg3d" / f"{name}.png"))
        image = np.asarray(Image.open(out / record["files"]["image"]))
        if record["mirror"]:
            np.testing.assert_array_equal(image, source[:, ::-1])
            np.testing.assert_array_equal(camera, mirror_camera(cams[name]))
            assert record["yaw"] == pytest.approx(-records[name]["yaw"], abs=1e-6)
        else:
            np.testing.assert_array_equal(image, source)
            np.testing.assert_array_equal(camera, cams[name].astype(np.float32))
            assert record["info"]["raw_image_name"] == name[:-3]
    labels = json.loads((out / DATASET_JSON).read_text())["labels"]
    assert [name for name, _ in labels] == sorted(f"images/{sid}.png" for sid in records)
    table = lpff.pose_table(records.values())
    assert table["replicas"].sum() == sum(expected.values()) and table["theta"].shape == (12,)

    # Resume: nothing is rewritten; other settings are refused.
    before = (out / MANIFEST).read_bytes()
    lpff.convert_lpff(src, out, mirror=True, rebalance=True, progress=False)
    assert (out / MANIFEST).read_bytes() == before
    with pytest.raises(DatasetFolderError, match="other settings"):
        lpff.convert_lpff(src, out, mirror=False, progress=False)

    # Export for EG3D: replica files and their labels.
    dest = export_eg3d(out, tmp_path / "eg3d", progress=False)
    exported = json.loads((dest / "dataset.json").read_text())["labels"]
    assert len(exported) == sum(expected.values())
    for name, label in exported:
        assert (dest / name).is_file()
        sid = Path(name).stem.rsplit("_", 1)[0]
        assert label == records[sid]["camera"]
    assert len(list((dest / "images").iterdir())) == len(exported)
    with pytest.raises(DatasetFolderError, match="already exists"):
        export_eg3d(out, dest, progress=False)


def test_convert_resumes_after_an_interruption_and_limits(tmp_path):
    src, out = tmp_path / "lpff", tmp_path / "out"
    make_lpff(src, count=5)
    lpff.convert_lpff(src, out, limit=3, progress=False)
    records = read_samples(out)
    assert sorted(records) == sorted(LpffFolder(src).names)[:3]
    assert "replicas" not in next(iter(records.values()))
    # Drop the last manifest line as if the run had stopped before it: the sample is written again.
    lines = (out / MANIFEST).read_text().splitlines(keepends=True)
    (out / MANIFEST).write_text("".join(lines[:-1]))
    lpff.convert_lpff(src, out, limit=3, progress=False)
    assert sorted(read_samples(out)) == sorted(records)
    with pytest.raises(ValueError, match="rebalance=True"):
        lpff.convert_lpff(src, out, reference=tmp_path / "x.json", progress=False)


def test_convert_with_a_reference_set(tmp_path):
    src, out = tmp_path / "lpff", tmp_path / "out"
    cams = make_lpff(src, count=4)
    rng = np.random.default_rng(7)
    ref_cams = [lpff_like_camera(rng) for _ in range(20)]
    (tmp_path / "ffhq.json").write_text(json.dumps({"labels": [[f"{i:05d}.png", c.tolist()]
                                                               for i, c in enumerate(ref_cams)]}))
    lpff.convert_lpff(src, out, rebalance=True, reference=tmp_path / "ffhq.json", progress=False)
    records = read_samples(out)
    names = sorted(cams)
    poses = poses_of(np.stack([cams[n] for n in names]))
    fit = np.concatenate([poses, poses_of(np.stack(ref_cams))])
    density = reference_kde(fit, poses)
    for name, d in zip(names, density):
        assert records[name]["density"] == pytest.approx(d, rel=1e-6)
        assert records[name]["replicas"] == published_copies(d)


# --------------------------------------------------------------------------------------------
# EG3D's FFHQ labels
# --------------------------------------------------------------------------------------------


def write_labels(path: Path, names: list[str], seed: int = 8) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    cams = [lpff_like_camera(rng).tolist() for _ in names]
    path.write_text(json.dumps({"labels": [[n, c] for n, c in zip(names, cams)]}))
    return cams


def test_ffhq_labels_lookup_by_name_stem_and_ffhq_id(tmp_path):
    names = ["00000.png", "00000_mirror.png", "00002.png", "00002_mirror.png"]  # 00001 was dropped
    cams = write_labels(tmp_path / "dataset.json", names)
    labels = ffhq_labels.FfhqLabels.from_file(tmp_path / "dataset.json")
    assert len(labels) == 4 and labels.md5 == hashlib.md5((tmp_path / "dataset.json").read_bytes()).hexdigest()
    np.testing.assert_array_equal(labels.camera("00002_mirror.png"), np.float32(cams[3]))
    np.testing.assert_array_equal(labels.camera("00002_mirror"), np.float32(cams[3]))
    np.testing.assert_array_equal(labels.by_ffhq_id(2), np.float32(cams[2]))
    np.testing.assert_array_equal(labels.by_ffhq_id(0, mirror=True), np.float32(cams[1]))
    assert "00000" in labels and "00001" not in labels
    with pytest.raises(KeyError, match="dropped"):
        labels.by_ffhq_id(1)
    assert labels.cameras.dtype == np.float64 and labels.to_json()["labels"][2] == [names[2], cams[2]]


def test_ffhq_labels_in_the_zip_scheme(tmp_path):
    names = [f"{i // 1000:05d}/img{i:08d}.png" for i in (0, 1, 1000)]
    cams = write_labels(tmp_path / "dataset.json", names)
    labels = ffhq_labels.FfhqLabels.from_file(tmp_path / "dataset.json")
    np.testing.assert_array_equal(labels.camera("img00001000"), np.float32(cams[2]))
    assert labels.index_of("00000/img00000001.png") == 1
    with pytest.raises(KeyError, match="not named by FFHQ id"):
        labels.by_ffhq_id(0)
    # A stem shared by two names must be looked up in full.
    write_labels(tmp_path / "two.json", ["a/x.png", "b/x.png"])
    two = ffhq_labels.FfhqLabels.from_file(tmp_path / "two.json")
    assert two.index_of("b/x.png") == 1
    with pytest.raises(KeyError, match="full name"):
        two.index_of("x")


def test_num_replicas_applied_as_eg3d_does(tmp_path):
    names = [f"00000/img{i:08d}.png" for i in range(3)]
    cams = write_labels(tmp_path / "dataset.json", names)
    (tmp_path / "FFHQ_num_replicas.json").write_text('{"2": 3, "0": 1, "1": 2}')
    replicas = ffhq_labels.read_num_replicas(tmp_path / "FFHQ_num_replicas.json")
    assert list(replicas.items()) == [(2, 3), (0, 1), (1, 2)]  # file order kept
    labels = ffhq_labels.FfhqLabels.from_file(tmp_path / "dataset.json")
    out = labels.rebalanced(replicas)
    assert out["labels"] == [
        ["00000/img00000002_00.png", cams[2]], ["00000/img00000002_01.png", cams[2]],
        ["00000/img00000002_02.png", cams[2]], ["00000/img00000000_00.png", cams[0]],
        ["00000/img00000001_00.png", cams[1]], ["00000/img00000001_01.png", cams[1]],
    ]
    # Labels are the file's values exactly: the written text round-trips.
    assert json.loads(ffhq_labels.dumps_labels(out))["labels"][0][1] == cams[2]
    with pytest.raises(ffhq_labels.LabelsFormatError, match="outside the 3 labels"):
        ffhq_labels.apply_replicas(labels, {5: 1})


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"0": 0}', "integer >= 1"),
        ('{"x": 1}', "not a label index"),
        ('{"0": 1.5}', "integer >= 1"),
        ("[1]", "expected an object"),
        ("{", "not a valid JSON"),
    ],
)
def test_malformed_replicas_give_clear_errors(tmp_path, text, message):
    (tmp_path / "r.json").write_text(text)
    with pytest.raises(ffhq_labels.LabelsFormatError, match=message):
        ffhq_labels.read_num_replicas(tmp_path / "r.json")


@pytest.mark.parametrize(
    "data,message",
    [({"cameras": []}, "expected an object"), ({"labels": {}}, "must be a list"),
     ({"labels": [["a.png", [0.0] * 24]]}, r"labels\[0\] \(a.png\).*25 numbers"),
     ({"labels": [["a.png", [float("nan")] * 25]]}, "NaN")],
)
def test_malformed_dataset_json_gives_clear_errors(tmp_path, data, message):
    (tmp_path / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(ffhq_labels.LabelsFormatError, match=message):
        ffhq_labels.FfhqLabels.from_file(tmp_path / "dataset.json")
    with pytest.raises(ffhq_labels.LabelsFormatError, match="not found"):
        ffhq_labels.FfhqLabels.from_file(tmp_path / "missing.json")


def test_converted_folder_reads_as_a_photo_collection(tmp_path):
    """DatasetFolder opens image + camera samples (no depth); depth datasets refuse them with a clear error."""
    from helpers.dataset_folder.preview import contact_sheet
    from helpers.depth.data.depth_dataset import DepthDataset

    src, out = tmp_path / "lpff", tmp_path / "out"
    cams = make_lpff(src, count=3)
    lpff.convert_lpff(src, out, progress=False)
    dataset = DatasetFolder(out)
    assert not dataset.has_depth and len(dataset) == len(cams)
    sample = dataset.load(0)
    assert sample.depth is None and sample.mask is None and sample.latent is None
    assert np.allclose(sample.camera, cams[sample.id])
    # one row of tiles and its gap, under the column titles and over the depth's colour bar
    assert contact_sheet(dataset, dataset.ids[:2], tile=16).shape[0] == HEADER_HEIGHT + 16 + 4 + COLORBAR_HEIGHT
    with pytest.raises(DatasetFolderError, match="no metric depth maps"):
        DepthDataset(out)


def test_reference_density_is_the_kde_of_the_reference_alone():
    """LPFF's photo filter evaluates FFHQ's KDE (its kde.pkl) at a new pose; the rebalancing fits on both sets."""
    from scipy.stats import gaussian_kde

    rng = np.random.default_rng(3)
    reference = np.stack([rng.normal(np.pi / 2, 0.2, 500), rng.normal(np.pi / 2, 0.1, 500)], axis=-1)
    poses = np.array([[np.pi / 2, np.pi / 2], [np.pi / 2 - 0.9, np.pi / 2 + 0.1]])
    density = reference_density(poses, reference, chunk=1)
    assert np.allclose(density, gaussian_kde(reference.T)(poses.T), rtol=1e-12)
    assert density[0] >= FFHQ_DENSITY_THRESHOLD > density[1]  # frontal: common in the reference; 50° off: rare
    assert not np.allclose(density, pose_density(poses, reference=reference))
    with pytest.raises(ValueError, match="reference poses"):
        reference_density(poses, reference[:, :1])
