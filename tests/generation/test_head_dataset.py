"""The randomised analytic-head dataset (``helpers.generation.head_dataset``): layouts, read-back, determinism, folder safety.

Datasets are tiny (4 samples, 48² images, 32² depth, 64 ray-march steps): each write takes well under a second.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.base import cameras
from helpers.base.depth_png import encode_legacy_depth_png
from helpers.dataset_folder.layout import DATASET_JSON, FORMAT_NAME, MANIFEST, META, sample_id
from helpers.dataset_folder.manifest import read_samples
from helpers.dataset_folder.meta import read_meta, write_meta
from helpers.dataset_folder.reader import DatasetFolder
from helpers.datasets.lpff import lpff_convert as lpff
from helpers.datasets.lpff.lpff_folder import CAMERA_PARAMETERS, INFO, LpffFolder, LpffFormatError, mirror_name
from helpers.datasets.lpff.pose_rebalance import poses_of, rebalance_counts, theta_phi
from helpers.datasets.original_layouts import OriginalFolder
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.generation.analytic_head import PARAMETERS, default_parts, head_parameters, random_head
from helpers.generation.head_dataset import (
    DEPTH_RANGE,
    HEADS_JSON,
    HeadDatasetConfig,
    HeadDatasetError,
    head_sample,
    lpff_name,
    write_head_dataset,
)

SMALL = {"count": 4, "image_size": 48, "depth_size": 32, "steps": 64, "seed": 3}
#: Half a step of the 16-bit depth format plus float32 rounding (world units).
DEPTH_TOLERANCE = 0.5 * (DEPTH_RANGE[1] - DEPTH_RANGE[0]) / 65534 + 1e-6


def small(layout: str = "folder", **changes) -> HeadDatasetConfig:
    return HeadDatasetConfig(**{**SMALL, "layout": layout, **changes})


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def direct_render(config: HeadDatasetConfig, index: int, size: int):
    """The sample's head rendered here, independently of the writer: its own RNG draws and camera."""
    rng = np.random.default_rng((config.seed, index))
    head = random_head(rng)
    yaw, pitch = rng.uniform(-config.max_yaw, config.max_yaw), rng.uniform(-config.max_pitch, config.max_pitch)
    camera = cameras.camera_vector(yaw, pitch, focal=config.focal)[0].numpy()
    return head, yaw, pitch, head.render(camera, size, near=DEPTH_RANGE[0], far=DEPTH_RANGE[1], steps=config.steps)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    """One small dataset per layout."""
    return {layout: write_head_dataset(tmp_path_factory.mktemp(layout), small(layout), progress=False)
            for layout in ("folder", "synthetic", "prosopo", "lpff")}


# --------------------------------------------------------------------------------------------
# Heads
# --------------------------------------------------------------------------------------------


def test_random_heads_vary_but_stay_head_like():
    defaults = default_parts()
    heads = [random_head(np.random.default_rng((0, i))) for i in range(20)]
    vectors = np.stack([head_parameters(h) for h in heads])
    assert vectors.shape == (20, 512) and vectors.dtype == np.float32
    assert not vectors[:, len(PARAMETERS):].any()  # zero padding after the named parameters
    assert len({v.tobytes() for v in vectors}) == 20
    for head in heads:
        skull, nose, ear_right, ear_left, neck = head.parts
        for part, default in zip(head.parts, defaults, strict=True):
            ratio = np.asarray(part.radii) / np.asarray(default.radii)
            assert np.all((0.75 <= ratio) & (ratio <= 1.25))
        assert ear_right.center == (-ear_left.center[0], *ear_left.center[1:]) and ear_right.radii == ear_left.radii
        # Attached parts: the nose sticks out of the face, the neck starts inside the skull.
        assert nose.center[2] + nose.radii[2] > skull.center[2] + skull.radii[2]
        assert skull.inside(np.array(nose.center) - [0, 0, nose.radii[2]]) > 0  # the back of the nose is inside
        assert skull.inside(np.array(ear_right.center) - [ear_right.radii[0], 0, 0]) > 0
        assert neck.center[1] + neck.radii[1] > skull.center[1] - skull.radii[1]
        assert math.isclose(np.linalg.norm(head.light), 1.0) and all(0 <= c <= 1 for c in head.color)
    spread = vectors[:, : len(PARAMETERS)].std(0)
    assert (spread[[PARAMETERS.index("skull.radius_y"), PARAMETERS.index("nose.radius_z")]] > 0.005).all()


def test_head_sample_draws_head_then_pose_from_the_seed_pair():
    config = HeadDatasetConfig(seed=7, max_yaw=0.4, max_pitch=0.2)
    sample = head_sample(config, 5)
    head, yaw, pitch, _ = direct_render(config, 5, 8)
    assert sample.head == head and (sample.yaw, sample.pitch) == (yaw, pitch) and sample.id == "seed00000005"
    assert abs(yaw) <= 0.4 and abs(pitch) <= 0.2
    assert head_sample(HeadDatasetConfig(seed=7, max_yaw=0.1), 5).head == head  # pose ranges keep the heads
    assert head_sample(HeadDatasetConfig(seed=8), 5).head != head
    assert head_sample(HeadDatasetConfig(layout="synthetic"), 0).camera[16] == pytest.approx(cameras.SEED_FOCAL)


@pytest.mark.parametrize(("changes", "message"), [
    ({"count": 0}, "count"), ({"image_size": 4}, "image_size"), ({"depth_size": 7}, "depth_size"),
    ({"steps": 2}, "steps"), ({"seed": -1}, "seed"), ({"count": 2.0}, "count"), ({"max_yaw": -0.1}, "max_yaw"),
    ({"max_pitch": 2.0}, "max_pitch"), ({"layout": "eg3d"}, "layout"),
])
def test_bad_configs_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        HeadDatasetConfig(**changes)


# --------------------------------------------------------------------------------------------
# Layouts read back
# --------------------------------------------------------------------------------------------


def test_folder_layout_reads_back_as_the_direct_render(written):
    root, config = written["folder"], small()
    meta = read_meta(root)
    assert meta["generator"]["name"] == "analytic heads" and meta["settings"]["seed"] == config.seed
    assert (meta["depth_png"]["near"], meta["depth_png"]["far"]) == DEPTH_RANGE
    labels = json.loads((root / DATASET_JSON).read_text())["labels"]
    data = DatasetFolder(root)
    ds = DepthDataset(root, DepthDatasetConfig(image_size=config.image_size, depth_size=config.depth_size))
    assert data.ids == ds.ids == [sample_id(i) for i in range(config.count)]
    for index in range(config.count):
        head, yaw, pitch, view = direct_render(config, index, config.depth_size)
        sample, item = data.load(index), ds[index]
        assert (sample.record["yaw"], sample.record["pitch"]) == (yaw, pitch)
        assert labels[index] == [sample.record["files"]["image"], sample.record["camera"]]
        assert np.array_equal(sample.camera, view.camera) and torch.equal(item["camera"], torch.from_numpy(view.camera))
        assert np.array_equal(sample.latent, head_parameters(head))
        assert np.array_equal(sample.mask, view.mask.astype(np.float32))  # 255 / 0
        assert torch.equal(item["mask"][0], torch.from_numpy(view.mask))
        assert np.array_equal(sample.depth > 0, view.mask)
        assert np.abs(item["depth"][0].numpy() - view.depth).max() <= DEPTH_TOLERANCE
        image = head.render(view.camera, config.image_size, steps=config.steps).image
        assert np.array_equal(sample.image, image)
        assert 0.05 < view.mask.mean() < 0.95


@pytest.mark.parametrize("layout", ["synthetic", "prosopo"])
def test_original_layouts_read_back_as_the_direct_render(written, layout):
    root, config = written[layout], small(layout)
    assert not (root / META).exists() and json.loads((root / HEADS_JSON).read_text())["settings"] == {
        **json.loads(json.dumps(config.__dict__)), "focal": config.focal, "depth_range": list(DEPTH_RANGE)}
    ds = DepthDataset(root, DepthDatasetConfig(source=layout, target="original", image_size=config.image_size,
                                               depth_size=config.depth_size))
    auto = DepthDataset(root, DepthDatasetConfig(target="original", original_focal=None))
    data = OriginalFolder(root, layout)
    assert ds.sources[0].kind == auto.sources[0].kind == layout and len(ds) == config.count
    for index in range(config.count):
        head, _, _, view = direct_render(config, index, config.depth_size)
        item = ds[index]
        # The original stores ray distance, normalised per image, bright = near.
        _, k = cameras.unpack(view.camera.astype(np.float64))
        ray = view.depth * np.linalg.norm(cameras.pixel_directions(k, config.depth_size, config.depth_size), axis=-1)
        near, far = ray[view.mask].min(), ray[view.mask].max()
        expected = np.where(view.mask, 2 * (far - ray) / (far - near) - 1, -1.0)
        depth, mask = item["depth"][0].numpy(), item["mask"][0].numpy()
        assert np.abs(depth - expected).max() <= 1 / 255 + 1e-6
        assert np.array_equal(mask, encode_legacy_depth_png(ray, view.mask) > 0)  # surface minus farthest level
        assert (mask <= view.mask).all() and mask.sum() > 0.95 * view.mask.sum()
        sample = data.load(index, latent=True)
        assert np.array_equal(sample.image, head.render(view.camera, config.image_size, steps=config.steps).image)
        assert sample.latent.shape == (14, 512) and np.array_equal(sample.latent[3], head_parameters(head))
        if layout == "synthetic":  # rendered with the published set's focal, stored in the file too
            assert np.array_equal(np.load(root / "cam_poses" / f"{sample.id}.npy"), view.camera[None])
            assert torch.equal(item["camera"], torch.from_numpy(view.camera))
            assert torch.equal(auto[index]["camera"], torch.from_numpy(view.camera))
        else:
            assert torch.isnan(item["camera"]).all()


def test_lpff_layout_reads_back_as_the_direct_render(written):
    root, config = written["lpff"], small("lpff")
    assert json.loads((root / HEADS_JSON).read_text())["settings"]["layout"] == "lpff"
    assert sorted(p.name for p in root.iterdir()) == ["camera_parameters.json", "crop", HEADS_JSON, "info.json"]
    data = LpffFolder(root)
    ids = [sample_id(i) for i in range(config.count)]
    assert data.names == [lpff_name(i) for i in ids] and data.image_dir == root / "crop" / "eg3d"
    published = json.loads((root / CAMERA_PARAMETERS).read_text())  # LPFF's {name: [25 floats]} form
    assert sorted(published) == data.names and all(len(c) == 25 for c in published.values())
    for index, name in enumerate(ids):
        head, yaw, pitch, view = direct_render(config, index, config.image_size)
        sample = data.sample(lpff_name(name))
        assert sample.camera.dtype == np.float32 and np.array_equal(sample.camera, view.camera)
        assert np.allclose(sample.camera[-9:], [cameras.FOCAL, 0, 0.5, 0, cameras.FOCAL, 0.5, 0, 0, 1])
        with Image.open(sample.image_path) as im:
            assert np.array_equal(np.asarray(im), view.image)
        assert sample.info["sample"] == name and sample.info["yaw"] == yaw and sample.info["pitch"] == pitch
        assert "license" in sample.info["image_info"]
        position = view.camera[[3, 7, 11]].astype(np.float64)  # LPFF's θ: angle of the camera position from +x
        theta, _ = theta_phi(sample.camera)
        assert abs(float(theta) - math.acos(position[0] / np.linalg.norm(position))) < 1e-6
        assert abs(np.linalg.norm(position) - cameras.RADIUS) < 1e-5  # 2.7 from the origin, as LPFF's cameras


def test_lpff_layout_spans_wide_poses_that_rebalancing_copies_and_converts(tmp_path):
    config = small("lpff", count=12, image_size=16, steps=16, max_yaw=1.4, max_pitch=0.5)
    root = write_head_dataset(tmp_path / "lpff", config, progress=False)
    data = LpffFolder(root)
    yaws = np.array([data.info(n)["yaw"] for n in data.names])
    assert yaws.min() < -0.7 and yaws.max() > 0.7
    counts = rebalance_counts(poses_of(np.stack([data.camera(n) for n in data.names])))
    assert counts.min() == 1 and counts.max() > 1  # the rare poses get copies
    out = lpff.convert_lpff(root, tmp_path / "converted", mirror=True, rebalance=True, progress=False)
    records = read_samples(out)
    assert len(records) == 2 * config.count
    for name in data.names:
        original, mirrored = records[name], records[mirror_name(name)]
        assert np.array_equal(original["camera"], data.camera(name).astype(np.float64))
        assert mirrored["yaw"] == pytest.approx(-original["yaw"], abs=1e-5)


def test_lpff_layout_without_its_json_files_is_finished_by_a_rerun(written, tmp_path):
    root = tmp_path / "d"
    write_head_dataset(root, small("lpff"), progress=False)
    (root / CAMERA_PARAMETERS).unlink()  # interrupted after the crops
    (root / "crop" / "eg3d" / f"{lpff_name('seed00000002')}.png").unlink()
    with pytest.raises(LpffFormatError, match="camera_parameters.json"):
        LpffFolder(root)
    write_head_dataset(root, small("lpff"), progress=False)
    assert files_of(root) == files_of(written["lpff"])
    (root / INFO).unlink()
    write_head_dataset(root, small("lpff"), progress=False)
    assert files_of(root) == files_of(written["lpff"])


def test_image_and_depth_sizes_may_be_equal(tmp_path):
    config = small(count=1, image_size=32, depth_size=32)
    sample = DatasetFolder(write_head_dataset(tmp_path / "d", config, progress=False)).load(0)
    _, _, _, view = direct_render(config, 0, 32)
    assert np.array_equal(sample.image, view.image) and np.abs(sample.depth - view.depth).max() <= DEPTH_TOLERANCE


def test_samples_differ(written):
    data = DatasetFolder(written["folder"])
    samples = [data.load(i) for i in range(len(data))]
    for a, b in itertools.combinations(samples, 2):
        assert not np.array_equal(a.latent, b.latent) and not np.array_equal(a.image, b.image)
        assert a.record["yaw"] != b.record["yaw"] and not np.array_equal(a.depth, b.depth)


# --------------------------------------------------------------------------------------------
# Determinism and folder safety
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["folder", "synthetic", "prosopo", "lpff"])
def test_same_config_writes_identical_files_whatever_the_workers(written, tmp_path, layout):
    again = write_head_dataset(tmp_path / "again", small(layout), progress=False, workers=1)
    assert files_of(again) == files_of(written[layout])


def test_rewrite_with_the_same_config_touches_nothing(tmp_path, capsys):
    root = write_head_dataset(tmp_path / "d", small(count=2), progress=True)
    assert "heads" in capsys.readouterr().err  # the progress bar
    state = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    assert write_head_dataset(root, small(count=2), progress=False) == root
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()} == state


@pytest.mark.parametrize("layout", ["folder", "prosopo"])
def test_an_interrupted_write_resumes_to_the_same_files(written, tmp_path, layout):
    root = tmp_path / "d"
    write_head_dataset(root, small(layout), progress=False)
    if layout == "folder":  # samples 2 and 3 not committed, dataset.json not written, a temporary left over
        lines = (root / MANIFEST).read_text().splitlines(keepends=True)
        (root / MANIFEST).write_text("".join(lines[:2]) + lines[2][:10])
        (root / DATASET_JSON).unlink()
        (root / "images" / "seed00000003.png").unlink()
        (root / "depth" / ".seed00000003.0123456789ab.tmp.png").write_bytes(b"partial")
    else:
        (root / "input" / "seed00000001.png").unlink()
        (root / "latent" / "seed00000002.npy").unlink()
    write_head_dataset(root, small(layout), progress=False)
    assert files_of(root) == files_of(written[layout])


def test_foreign_or_other_config_folders_are_refused(written, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(HeadDatasetError, match="not a head dataset"):
        write_head_dataset(foreign, small(), progress=False)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]

    eg3d = tmp_path / "eg3d"
    write_meta(eg3d, {"format": FORMAT_NAME, "generator": {"checkpoint": "ffhq512-128"}})
    with pytest.raises(HeadDatasetError, match="not a head dataset"):
        write_head_dataset(eg3d, small(), progress=False)

    before = files_of(written["folder"])
    with pytest.raises(HeadDatasetError, match=r"another config \(settings.seed: 3 vs 4"):
        write_head_dataset(written["folder"], small(seed=4), progress=False)
    with pytest.raises(HeadDatasetError, match="settings.layout: 'folder' vs 'prosopo'"):
        write_head_dataset(written["folder"], small("prosopo"), progress=False)
    with pytest.raises(HeadDatasetError, match="settings.count"):
        write_head_dataset(written["synthetic"], small("synthetic", count=5), progress=False)
    assert files_of(written["folder"]) == before

    (tmp_path / "file").write_text("x")
    with pytest.raises(HeadDatasetError, match="not a folder"):
        write_head_dataset(tmp_path / "file", small(), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(DatasetFolder(write_head_dataset(empty, small(count=1), progress=False))) == 1
    with pytest.raises(ValueError, match="workers"):
        write_head_dataset(tmp_path / "w", small(), workers=0)


def test_a_failing_sample_stops_the_run_and_commits_only_the_samples_before_it(written, tmp_path, monkeypatch):
    from helpers.generation import head_dataset as heads

    write = heads._write_sample

    def fail_on_one(root, config, index):
        if index == 1:
            raise RuntimeError("disk full")
        return write(root, config, index)

    monkeypatch.setattr(heads, "_write_sample", fail_on_one)
    root = tmp_path / "d"
    with pytest.raises(RuntimeError, match="disk full"):
        write_head_dataset(root, small(), progress=False, workers=1)
    assert list(read_samples(root)) == ["seed00000000"] and not (root / DATASET_JSON).exists()
    monkeypatch.setattr(heads, "_write_sample", write)
    write_head_dataset(root, small(), progress=False)
    assert files_of(root) == files_of(written["folder"])
