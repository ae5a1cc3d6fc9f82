"""The depth-regression dataset (``helpers.depth.data.depth_dataset``) and the original layouts (``helpers.datasets.original_layouts``).

Folders are written by the tests: a tiny-random EG3D run (our format plus its ``--legacy`` copies), an analytic
sphere scene in our format (known geometry, to check image / depth / camera consistency under augmentation) and
small original layouts (published synthetic set, Prosopo) written with numpy and the legacy depth encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from helpers.base import cameras
from helpers.base.depth_png import write_depth_png, write_legacy_depth_png
from helpers.dataset_folder.layout import FOLDERS, FORMAT_NAME, FORMAT_VERSION, MANIFEST, DatasetFolderError, sample_id
from helpers.dataset_folder.manifest import ManifestWriter
from helpers.dataset_folder.meta import write_meta
from helpers.dataset_folder.reader import DatasetFolder
from helpers.dataset_folder.splits import split_of
from helpers.datasets.original_layouts import OriginalFolder, OriginalLayoutError, detect_layout, fallback_mask
from helpers.depth.data.augment import AugmentConfig
from helpers.depth.data.depth_data_config import DepthDatasetConfig
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.depth.metrics.depth_metrics import original_normalize
from helpers.depth.networks.model_inputs import MODEL_INPUTS, normalize_images
from helpers.generation import generate_dataset as gen
from helpers.generation.sample_settings import SampleSettings
from helpers.training.seeded_loader import SeededSampler, make_loader

NEAR, FAR = 2.0, 3.5
SPHERE_CENTRE = np.array([0.08, 0.03, 0.0])
SPHERE_RADIUS = 0.2


# --------------------------------------------------------------------------------------------
# Folders written by the tests
# --------------------------------------------------------------------------------------------


def render_sphere(camera: np.ndarray, size: int, centre: np.ndarray = SPHERE_CENTRE) -> np.ndarray:
    """(size, size) float64 camera z-depth of the sphere through an EG3D camera vector, 0 where the ray misses."""
    pose, k = cameras.unpack(np.asarray(camera, dtype=np.float64))
    rays = cameras.pixel_directions(k, size, size) @ pose[:3, :3].T  # world directions with camera z = 1
    offset = pose[:3, 3] - centre
    a = (rays * rays).sum(-1)
    b = 2 * rays @ offset
    c = offset @ offset - SPHERE_RADIUS**2
    disc = b * b - 4 * a * c
    z = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)  # the ray parameter is z because rays have camera z = 1
    return np.where(disc > 0, z, 0.0)


def shade(z: np.ndarray) -> np.ndarray:
    """Red channel of the sphere images: brighter = nearer, 0 = background."""
    return np.where(z > 0, np.clip((2.8 - z) / 0.4, 0.0, 1.0), 0.0)


def write_sphere_folder(root: Path, n: int = 3, image_size: int = 128, depth_size: int = 64) -> Path:
    """Our dataset format with the analytic sphere: image (R = shade(z)), 16-bit depth, opacity mask (100/255 on the
    left half of the sphere, 255 on the right), cameras, latents, manifest, meta.json."""
    write_meta(root, {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                             "depth_png": {"near": NEAR, "far": FAR}})
    with ManifestWriter(root / MANIFEST, fsync=False) as manifest:
        for seed in range(n):
            sid = sample_id(seed)
            camera = cameras.camera_vector(0.3 * (seed - 1), 0.1 * seed - 0.1)[0].numpy()
            z_image, z_depth = render_sphere(camera, image_size), render_sphere(camera, depth_size)
            rgb = np.stack([shade(z_image), 0.5 * (z_image > 0), np.full_like(z_image, 0.2)], -1)
            files = {k: f"{FOLDERS[k]}/{sid}.{'npy' if k in ('latent', 'camera') else 'png'}"
                     for k in ("image", "depth", "mask", "latent", "camera")}
            for sub in ("images", "depth", "mask", "latents", "cameras"):
                (root / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.rint(rgb * 255).astype(np.uint8)).save(root / files["image"])
            write_depth_png(root / files["depth"], z_depth, NEAR, FAR)
            opacity = np.where(z_depth > 0, 255, 0).astype(np.uint8)
            opacity[:, : depth_size // 2][z_depth[:, : depth_size // 2] > 0] = 100
            Image.fromarray(opacity).save(root / files["mask"])
            np.save(root / files["latent"], np.zeros(512, np.float32))
            np.save(root / files["camera"], camera)
            manifest.append({"id": sid, "seed": seed, "camera": camera.tolist(), "files": files})
    return root


@pytest.fixture(scope="module")
def sphere(tmp_path_factory) -> Path:
    return write_sphere_folder(tmp_path_factory.mktemp("sphere"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Two tiny-random EG3D samples (32² depth) with the original formats too (``--legacy``)."""
    out = tmp_path_factory.mktemp("generated")
    settings = SampleSettings(depth_min_opacity=0.4, legacy=True)
    gen.generate(gen.GenerateConfig(out=out, seeds=(0, 1), checkpoint="tiny-random", settings=settings,
                                    batch_size=2, device="cpu", workers=2, progress=False), log=lambda *_: None)
    return out


def write_original(root: Path, layout: str, stems: list[str], *, missing_depth: tuple[str, ...] = (),
                   missing_camera: tuple[str, ...] = (), image_suffix: str = ".png") -> Path:
    """A small original layout: images 64², legacy 8-bit depth 32² (a bump on a background), latents (1, 14, 512),
    cameras (1, 25) rendered with focal 4.2647 in the file (the synthetic set's files hold that value)."""
    rng = np.random.default_rng(0)
    images = root / ("images" if layout == "synthetic" else "input")
    for sub in (images, root / "depth128x128", root / "latent"):
        sub.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:32, 0:32]
    for i, stem in enumerate(stems):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(images / f"{stem}{image_suffix}")
        z = 2.5 + 0.01 * ((yy - 16) ** 2 + (xx - 12 - i) ** 2) ** 0.5
        surface = (yy - 16) ** 2 + (xx - 12 - i) ** 2 < 100
        if stem not in missing_depth:
            write_legacy_depth_png(root / "depth128x128" / f"{stem}.png", z, mask=surface)
        np.save(root / "latent" / f"{stem}.npy", rng.normal(size=(1, 14, 512)).astype(np.float32))
        if layout == "synthetic" and stem not in missing_camera:
            (root / "cam_poses").mkdir(exist_ok=True)
            np.save(root / "cam_poses" / f"{stem}.npy", cameras.camera_vector(0.1 * i, 0.0).numpy())
    if layout == "synthetic":
        (root / "shapes").mkdir(exist_ok=True)
        (root / "shapes" / f"{stems[0]}.obj").write_text("v 0 0 0\n")
    return root


# --------------------------------------------------------------------------------------------
# Our folder format
# --------------------------------------------------------------------------------------------


def test_items_have_the_documented_shapes_types_and_ranges(sphere):
    ds = DepthDataset(sphere, DepthDatasetConfig(image_size=40, depth_size=24))
    assert len(ds) == 3 and ds.ids == [sample_id(s) for s in range(3)]
    item = ds[1]
    assert item["image"].shape == (3, 40, 40) and item["image"].dtype == torch.float32
    assert 0 <= item["image"].min() and item["image"].max() <= 1
    assert item["depth"].shape == (1, 24, 24) and item["depth"].dtype == torch.float32
    assert item["mask"].shape == (1, 24, 24) and item["mask"].dtype == torch.bool
    assert item["camera"].shape == (25,) and item["camera"].dtype == torch.float32
    assert item["id"] == "seed00000001"
    depth, mask = item["depth"], item["mask"]
    assert mask.any() and (~mask).any()
    assert torch.equal(mask, depth > 0)
    assert NEAR <= depth[mask].min() and depth[mask].max() <= FAR
    assert ds[-1]["id"] == "seed00000002"
    with pytest.raises(IndexError):
        ds[3]
    assert "3 items" in repr(ds)


@pytest.mark.parametrize("depth_size", [16, 32, 64])
def test_metric_depth_is_the_stored_depth_resized_nearest(generated, depth_size):
    data = DatasetFolder(generated)
    ds = DepthDataset(generated, DepthDatasetConfig(image_size=96, depth_size=depth_size))
    for index in range(len(ds)):
        sample, item = data.load(index), ds[index]
        stored = torch.from_numpy(sample.depth)[None, None]
        assert torch.equal(item["depth"], F.interpolate(stored, size=(depth_size,) * 2, mode="nearest-exact")[0])
        assert torch.equal(item["mask"], item["depth"] > 0)
        resized = Image.fromarray(sample.image).resize((96, 96), Image.Resampling.BILINEAR)
        assert torch.equal(item["image"], torch.from_numpy(np.array(resized)).permute(2, 0, 1).float() / 255)
        assert torch.equal(item["camera"], torch.from_numpy(sample.camera))
    assert not ds[0]["mask"].all() or not ds[1]["mask"].all()


def test_original_target_from_metric_depth(generated, sphere):
    for root in (generated, sphere):
        data = DatasetFolder(root)
        ds = DepthDataset(root, DepthDatasetConfig(target="original", depth_size=32))
        for index in range(len(ds)):
            item, sample = ds[index], data.load(index)
            depth, mask = item["depth"], item["mask"]
            assert -1 <= depth.min() and depth.max() <= 1
            assert torch.all(depth[~mask] == -1)
            z = torch.from_numpy(sample.depth)
            full = original_normalize(z, z > 0)
            expected = F.interpolate(full[None, None], size=(32, 32), mode="nearest-exact")[0]
            assert torch.equal(depth, expected)
            # 1 = nearest: the nearest surface pixel of the stored map has 1.
            nearest = torch.where(z > 0, z, torch.inf).argmin()
            assert full.flatten()[nearest] == 1.0


def test_min_opacity_narrows_the_mask(sphere):
    plain = DepthDataset(sphere, DepthDatasetConfig(depth_size=64))[1]
    strict = DepthDataset(sphere, DepthDatasetConfig(depth_size=64, min_opacity=0.5))[1]
    assert torch.equal(strict["depth"], plain["depth"])
    assert torch.equal(strict["mask"][..., 32:], plain["mask"][..., 32:])  # opacity 255 on the right half
    assert not strict["mask"][..., :32].any() and plain["mask"][..., :32].any()  # 100/255 on the left


def test_augmented_items_stay_consistent_with_the_geometry(sphere):
    """Under crop + flip, image, depth and mask match the sphere rendered through the returned camera (mirrored
    world when flipped): the camera really describes the augmented maps."""
    config = DepthDatasetConfig(image_size=64, depth_size=48, augment=AugmentConfig(
        hflip=0.5, brightness=0.0, contrast=0.0, saturation=0.0, scale=(0.6, 0.9)))
    ds = DepthDataset(sphere, config)
    flips = 0
    for seed in range(8):
        item, params = ds[(seed % 3, seed)], ds.params(seed)
        flips += params.flip
        assert params.crop.side < 0.95
        centre = SPHERE_CENTRE * ([-1, 1, 1] if params.flip else 1)
        camera = item["camera"].double().numpy()
        z_depth, z_image = render_sphere(camera, 48, centre), render_sphere(camera, 64, centre)
        depth, mask = item["depth"][0].double().numpy(), item["mask"][0].numpy()
        assert (mask == (z_depth > 0)).mean() > 0.97
        both = mask & (z_depth > 0)
        error = np.abs(depth[both] - z_depth[both])
        assert np.median(error) < 5e-3 and np.quantile(error, 0.9) < 0.02
        red = item["image"][0].double().numpy()
        interior = shade(z_image) > 0.05
        assert np.median(np.abs(red[interior] - shade(z_image)[interior])) < 0.02
        # The un-flipped world would not match a flipped item.
        if params.flip:
            wrong = render_sphere(camera, 48, SPHERE_CENTRE)
            assert (mask == (wrong > 0)).mean() < (mask == (z_depth > 0)).mean()
    assert 0 < flips < 8


def test_flip_only_mirrors_image_depth_and_mask(sphere):
    plain = DepthDataset(sphere, DepthDatasetConfig(depth_size=32))
    flip_config = AugmentConfig(hflip=1.0, brightness=0.0, contrast=0.0, saturation=0.0, scale=(1.0, 1.0))
    flipped = DepthDataset(sphere, DepthDatasetConfig(depth_size=32, augment=flip_config))
    a, b = plain[0], flipped[(0, 7)]
    for key in ("image", "depth", "mask"):
        assert torch.equal(b[key], a[key].flip(-1))
    pose, _ = cameras.unpack(b["camera"])
    assert pose[0, 3] == pytest.approx(-float(a["camera"][3]))  # camera x mirrored


def test_colour_jitter_is_reproducible_per_seed(sphere):
    ds = DepthDataset(sphere, DepthDatasetConfig(image_size=32, depth_size=16, augment=AugmentConfig()))
    a, b, c = ds[(0, 11)], ds[(0, 11)], ds[(0, 12)]
    assert all(torch.equal(a[k], b[k]) for k in ("image", "depth", "mask", "camera"))
    assert not torch.equal(a["image"], c["image"])


def test_splits_partition_the_folder(sphere, tmp_path):
    root = write_sphere_folder(tmp_path / "many", n=40, image_size=16, depth_size=8)
    parts = {s: DepthDataset(root, DepthDatasetConfig(split=s, image_size=8, depth_size=8)).ids
             for s in ("train", "val", "test")}
    everything = DepthDataset(root, DepthDatasetConfig(image_size=8, depth_size=8)).ids
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == sorted(everything)
    for name, ids in parts.items():
        assert all(split_of(i) == name for i in ids)
    ds = DepthDataset(root, DepthDatasetConfig(image_size=8, depth_size=8))
    assert ds.with_config(split="train").ids == parts["train"]


def test_model_inputs_and_normalisation():
    assert DepthDatasetConfig.for_model("attention_unet").image_size == 128
    assert DepthDatasetConfig.for_model("dpt-large", depth_size=64).image_size == 384
    assert DepthDatasetConfig.for_model("depth-anything-v2-small").image_size == 518
    images = torch.rand(2, 3, 8, 8)
    assert torch.allclose(normalize_images(images, "attention_unet"), images * 2 - 1)
    assert torch.allclose(normalize_images(images, "dpt-large"), images * 2 - 1)
    imagenet = normalize_images(images, "depth-anything-v2-small")
    mean = torch.tensor((0.485, 0.456, 0.406)).view(3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)
    assert torch.allclose(imagenet, (images - mean) / std)
    assert set(MODEL_INPUTS) >= {"attention_unet", "dpt-large", "dpt-hybrid-midas", "depth-anything-v2-small"}
    with pytest.raises(ValueError, match="unknown model"):
        normalize_images(images, "resnet")
    with pytest.raises(ValueError, match="target"):
        DepthDatasetConfig(target="disparity")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The original layouts
# --------------------------------------------------------------------------------------------


def test_legacy_copies_of_a_generated_folder(generated):
    data = DatasetFolder(generated)
    legacy = OriginalFolder(generated, "synthetic", focal=None)
    assert legacy.ids == data.ids and not legacy.skipped
    for sid in data.ids:
        sample, old = data.load(sid), legacy.load(sid, latent=True)
        assert old.depth.shape == sample.depth.shape and old.depth.dtype == np.float32
        assert old.depth.min() == -1 and old.depth.max() == 1
        # Fallback mask: the surface minus (at most) the farthest quantisation level.
        surface = sample.depth > 0
        assert not (old.mask & ~surface).any()
        assert (surface & ~old.mask).sum() <= max(3, 0.05 * surface.sum())
        np.testing.assert_allclose(old.camera, sample.camera, atol=1e-6)
        assert old.latent.shape == (14, 512)
        assert np.array_equal(old.image, sample.image)
    # Default: the original generator's focal (the images of the published set were rendered with it).
    assert OriginalFolder(generated, "synthetic").read_camera(0)[16] == pytest.approx(cameras.SEED_FOCAL)
    ds = DepthDataset(generated, DepthDatasetConfig(source="synthetic", target="original", original_focal=None,
                                                    depth_size=32))
    item = ds[1]
    assert torch.equal(item["depth"][0], torch.from_numpy(legacy.load(1).depth))
    assert torch.equal(item["mask"][0], torch.from_numpy(legacy.load(1).mask))


def test_published_synthetic_layout(tmp_path):
    root = write_original(tmp_path / "pub", "synthetic", ["a1", "b2", "c3"])
    assert detect_layout(root) == "synthetic"
    data = OriginalFolder(root)
    assert data.layout == "synthetic" and data.ids == ["a1", "b2", "c3"]
    sample = data.load("b2", latent=True)
    assert sample.image.shape == (64, 64, 3) and sample.depth.shape == (32, 32)
    assert sample.camera[16] == pytest.approx(cameras.SEED_FOCAL) and sample.camera[20] == pytest.approx(
        cameras.SEED_FOCAL)
    np.testing.assert_allclose(sample.camera[:16], cameras.camera_vector(0.1, 0.0)[0, :16].numpy())
    assert sample.latent.shape == (14, 512)
    assert data.shape_path("a1").name == "a1.obj" and data.shape_path("b2") is None
    assert np.array_equal(sample.mask, sample.depth > -1)
    ds = DepthDataset(root, DepthDatasetConfig(target="original", image_size=32, depth_size=32))
    item = ds[0]
    assert torch.isfinite(item["camera"]).all()
    assert item["depth"].max() == 1 and item["depth"].min() == -1 and torch.equal(item["mask"], item["depth"] > -1)


def test_prosopo_layout_without_cameras(tmp_path):
    root = write_original(tmp_path / "prosopo", "prosopo", ["00017", "00042"], image_suffix=".jpg")
    assert detect_layout(root) == "prosopo"
    data = OriginalFolder(root)
    assert data.layout == "prosopo" and data.ids == ["00017", "00042"]
    assert data.load(0).camera is None
    ds = DepthDataset(root, DepthDatasetConfig(target="original", image_size=48, depth_size=32))
    item = ds[1]
    assert item["camera"].shape == (25,) and torch.isnan(item["camera"]).all()
    assert item["image"].shape == (3, 48, 48)
    with pytest.raises(ValueError, match="target='original'"):
        DepthDataset(root)


def test_missing_files_error_or_skip(tmp_path):
    root = write_original(tmp_path / "pub", "synthetic", ["a", "b", "c", "d"], missing_depth=("b",),
                          missing_camera=("d",))
    with pytest.raises(OriginalLayoutError, match=r"2 of 4 images.*b \(no depth\).*d \(no camera\).*missing='skip'"):
        OriginalFolder(root)
    data = OriginalFolder(root, missing="skip")
    assert data.ids == ["a", "c"] and data.skipped == {"b": "depth", "d": "camera"}
    assert len(DepthDataset(root, DepthDatasetConfig(target="original", missing="skip"))) == 2
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "depth128x128").mkdir()
    with pytest.raises(OriginalLayoutError, match="no sample"):
        OriginalFolder(tmp_path / "empty")
    with pytest.raises(DatasetFolderError, match="neither"):
        DepthDataset(tmp_path / "pub" / "images")


def test_fallback_mask_options():
    depth = np.array([[-1.0, -0.95, 0.2], [1.0, -1.0, -0.5]], dtype=np.float32)
    assert fallback_mask(depth).tolist() == [[False, True, True], [True, False, True]]
    assert fallback_mask(depth, -0.9).tolist() == [[False, False, True], [True, False, True]]
    assert fallback_mask(depth, None).all()


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def test_loader_with_workers_collates_mixed_sources(sphere, tmp_path):
    prosopo = write_original(tmp_path / "prosopo", "prosopo", ["p1", "p2"])
    ds = DepthDataset([sphere, prosopo], DepthDatasetConfig(target="original", image_size=32, depth_size=16,
                                                            augment=AugmentConfig()))
    assert len(ds) == 5
    loader = make_loader(ds, 2, shuffle=False, workers=2, seed=0)
    assert loader.pin_memory == torch.cuda.is_available()
    batches = list(loader)
    assert [len(b["id"]) for b in batches] == [2, 2, 1]
    first, last = batches[0], batches[-1]
    assert first["image"].shape == (2, 3, 32, 32) and first["image"].dtype == torch.float32
    assert first["depth"].shape == (2, 1, 16, 16) and first["mask"].dtype == torch.bool
    assert first["camera"].shape == (2, 25) and torch.isfinite(first["camera"]).all()
    assert torch.isnan(last["camera"]).all() and last["id"] == ["p2"]
    assert [i for b in batches for i in b["id"]] == ds.ids


def test_loader_is_reproducible_whatever_the_workers(sphere):
    ds = DepthDataset(sphere, DepthDatasetConfig(image_size=24, depth_size=12, augment=AugmentConfig()))

    def epochs(workers: int, seed: int) -> list[list[dict]]:
        loader = make_loader(ds, 2, shuffle=True, workers=workers, seed=seed, drop_last=False)
        return [list(loader), list(loader)]

    a, b, c = epochs(0, 5), epochs(2, 5), epochs(0, 6)

    def same(x: list[dict], y: list[dict]) -> bool:
        return all(p["id"] == q["id"] and torch.equal(p["image"], q["image"]) and torch.equal(p["camera"],
                   q["camera"]) for p, q in zip(x, y, strict=True))

    assert same(a[0], b[0]) and same(a[1], b[1])  # workers do not change anything
    assert not same(a[0], a[1])  # a new epoch draws new augmentations
    assert not same(a[0], c[0])  # another seed too
    sampler = SeededSampler(5, shuffle=True, seed=1)
    first = list(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == first and sorted(i for i, _ in first) == list(range(5))


def test_make_loader_accepts_any_dataset():
    data = torch.utils.data.TensorDataset(torch.arange(10))
    loader = make_loader(data, 4, shuffle=True, workers=0, seed=3, drop_last=True)
    batches = [b[0].tolist() for b in loader]
    assert len(batches) == 2 and all(len(b) == 4 for b in batches)
    again = make_loader(data, 4, shuffle=True, workers=0, seed=3, drop_last=True)
    assert [b[0].tolist() for b in again] == batches
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(data, 0, shuffle=False, workers=0)


def test_meta_json_is_required_for_the_folder_source(sphere, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "meta.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DatasetFolderError, match="meta.json"):
        DepthDataset(broken)


def test_cache_serves_the_same_items(sphere, tmp_path):
    config = DepthDatasetConfig(image_size=48, depth_size=40, target="original")
    plain = DepthDataset(sphere, config)
    cached = DepthDataset(sphere, config).use_cache(tmp_path / "cache", progress=False)
    (built,) = (tmp_path / "cache").iterdir()
    assert built.name.startswith("depth-cache-") and (built / "images.npy").is_file()
    for index in range(len(plain)):
        a, b = plain[index], cached[index]
        assert a["id"] == b["id"]
        for key in ("image", "depth", "mask", "camera"):
            assert torch.equal(a[key], b[key]), key
    # With crops and flips: depth, mask and camera identical; the image is a zoom of the cached one.
    augment = AugmentConfig(brightness=0.0, contrast=0.0, saturation=0.0, scale=(0.7, 0.9))
    plain_aug = DepthDataset(sphere, DepthDatasetConfig(image_size=48, depth_size=40, target="original",
                                                        augment=augment))
    cached_aug = DepthDataset(sphere, plain_aug.config).use_cache(tmp_path / "cache", progress=False)
    assert len(list((tmp_path / "cache").iterdir())) == 1  # same contents (augmentation aside): reused
    for seed in range(4):
        a, b = plain_aug[(seed % 3, seed)], cached_aug[(seed % 3, seed)]
        for key in ("depth", "mask", "camera"):
            assert torch.equal(a[key], b[key]), key
        assert (a["image"] - b["image"]).abs().mean() < 0.02
    # Another target is another cache; workers read the memory maps.
    metric = DepthDataset(sphere, DepthDatasetConfig(image_size=48, depth_size=40)).use_cache(
        tmp_path / "cache", workers=2, progress=False)
    assert len(list((tmp_path / "cache").iterdir())) == 2
    batch = next(iter(make_loader(metric, 3, shuffle=False, workers=2)))
    assert torch.equal(batch["depth"][1], plain.with_config(target="metric_z")[1]["depth"])


def test_original_layout_ground_truth_uses_the_original_evaluation_mapping(tmp_path):
    """The original scored its models against x/255·2 − 1 (MiDaS's 0.5/0.5 normalisation of the 8-bit PNG), not a
    per-image stretch: a map that does not span 0…255 keeps its values, and the fallback mask is unchanged."""
    root = write_original(tmp_path / "prosopo", "prosopo", ["n1"])
    codes = np.full((32, 32), 40, np.uint8)
    codes[8:24, 8:24] = np.linspace(90, 200, 16).astype(np.uint8)[None, :]
    Image.fromarray(codes).save(root / "depth128x128" / "n1.png")
    item = DepthDataset(root, DepthDatasetConfig(target="original", image_size=32, depth_size=32))[0]
    assert torch.allclose(item["depth"][0], torch.from_numpy(codes / 255 * 2 - 1).float(), atol=1e-6)
    assert torch.equal(item["mask"][0], torch.from_numpy(codes > 40))  # nearer than the farthest value
    per_image = OriginalFolder(root, depth_mapping="per_image").load("n1").depth
    assert per_image.min() == -1 and per_image.max() == 1  # what the original's mesh reader saw instead


def test_ids_found_in_several_folders_are_qualified_by_folder(small_heads):
    """Evaluation tables need unique ids: an id in two folders (e.g. converted CoarseData and FineData) is qualified."""
    once = DepthDataset(small_heads, DepthDatasetConfig(image_size=32, depth_size=32))
    twice = DepthDataset([small_heads, small_heads], DepthDatasetConfig(image_size=32, depth_size=32))
    assert len(set(twice.ids)) == len(twice) == 2 * len(once)
    assert twice.ids[0] == f"0-{small_heads.name}/{once.ids[0]}"
    assert twice[len(once)]["id"] == f"1-{small_heads.name}/{once.ids[0]}"
