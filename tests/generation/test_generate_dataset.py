"""Dataset generation (``helpers.generation.generate_dataset``): format, determinism, crash safety, shards, geometry.

Everything runs the tiny random generator on the CPU. The geometry test swaps its tri-planes and
decoder for a field with a known solid (an ellipsoid), so that image mask, depth map and mesh can
be checked against each other.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import eg3d
from helpers.base import cameras
from helpers.base.atomic import write_npy_atomic
from helpers.base.depth_png import read_depth_png, read_legacy_depth_png
from helpers.dataset_folder.layout import FORMAT_NAME, DatasetFolderError, sample_id
from helpers.dataset_folder.manifest import (
    check_sample_files,
    manifest_paths,
    read_samples,
    shard_manifest_name,
)
from helpers.dataset_folder.merge import merge_folders
from helpers.eg3d.subject import latent_z
from helpers.generation import generate_dataset as gen
from helpers.generation.sample_renderer import SampleRenderer
from helpers.generation.sample_settings import MeshSettings, SampleSettings, default_depth_range
from helpers.generation.viewpoints import ViewpointMix
from tests.faults.outcomes import sample_bytes

#: The tiny random field's opacity lies in about [0.3, 0.56]: 0.4 gives pixels with and without depth.
SETTINGS = SampleSettings(depth_min_opacity=0.4)


def config(out: Path, seeds=range(4), **kwargs) -> gen.GenerateConfig:
    settings = kwargs.pop("settings", SETTINGS)
    return gen.GenerateConfig(out=out, seeds=tuple(seeds), checkpoint="tiny-random", settings=settings,
                              batch_size=kwargs.pop("batch_size", 2), device="cpu", workers=2, progress=False,
                              **kwargs)


def run(cfg: gen.GenerateConfig, **kwargs) -> gen.GenerateReport:
    return gen.generate(cfg, log=lambda *_: None, **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of seeds 0-5 in batches of 2."""
    out = tmp_path_factory.mktemp("reference")
    run(config(out, seeds=range(6)))
    return out


# ----------------------------------------------------------------------------- parsing


def test_parse_seeds_and_shards():
    assert gen.parse_seeds("0-3") == (0, 1, 2, 3)
    assert gen.parse_seeds("7, 2-3,10") == (7, 2, 3, 10)
    for bad in ["", "a-3", "5-2", "1,,x"]:
        with pytest.raises(ValueError):
            gen.parse_seeds(bad)
    assert gen.parse_shard("1/8") == (1, 8)
    for bad in ["8/8", "1", "-1/2", "a/b"]:
        with pytest.raises(ValueError, match="i/n"):
            gen.parse_shard(bad)


def test_batches_are_fixed_and_shards_take_whole_batches():
    seeds = tuple(range(10))
    assert gen.batches_of(seeds, 4, None) == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]
    assert gen.batches_of(seeds, 4, (1, 2)) == [(4, 5, 6, 7)]
    shards = [gen.batches_of(seeds, 3, (i, 3)) for i in range(3)]
    assert sorted(s for part in shards for batch in part for s in batch) == list(seeds)


def test_default_batch_size_is_one_on_the_cpu():
    cfg = gen.GenerateConfig(out=Path("unused"), seeds=(0, 1), device="cpu")
    assert cfg.batch_size is None and gen.effective_batch_size(cfg) == 1
    assert gen.effective_batch_size(dataclasses.replace(cfg, batch_size=3)) == 3


def test_torchrun_environment_selects_the_shard(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    assert gen.shard_from_environment() == (2, 4)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert gen.shard_from_environment() is None


def test_default_depth_range_holds_every_renderable_depth():
    near, far = default_depth_range(eg3d.tiny_config(), ViewpointMix())
    # Widest camera (f = 3.6): the corner ray's cosine is ~0.981, so z >= 2.25 * 0.981 = 2.207.
    assert near == 2.2 and far == 3.3


def test_latent_z_is_eg3d_gen_samples_recipe():
    z = latent_z([0, 42], 512)
    assert z.dtype == torch.float32 and z.shape == (2, 512)
    assert np.array_equal(z[1].numpy(), np.random.RandomState(42).randn(512).astype(np.float32))


# ----------------------------------------------------------------------------- format


def test_files_match_the_format(reference: Path):
    meta = json.loads((reference / "meta.json").read_text())
    assert meta["format"] == FORMAT_NAME and meta["generator"]["checkpoint"] == "tiny-random"
    near, far = meta["depth_png"]["near"], meta["depth_png"]["far"]
    records = read_samples(reference)
    assert sorted(records) == [sample_id(s) for s in range(6)]

    # dataset.json as EG3D's ImageFolderDataset reads it: labels = [[relative image path, 25 floats]].
    labels = json.loads((reference / "dataset.json").read_text())["labels"]
    assert [name for name, _ in labels] == sorted(r["files"]["image"] for r in records.values())
    for name, label in labels:
        assert (reference / name).is_file() and len(label) == 25
        cameras.check_camera(np.asarray(label, dtype=np.float32))

    mix = ViewpointMix()
    surface_pixels = 0
    for record in records.values():
        files = {k: reference / v for k, v in record["files"].items()}
        assert set(files) == {"image", "depth", "mask", "latent", "camera"}
        image = Image.open(files["image"])
        assert image.mode == "RGB" and image.size == (512, 512)
        depth_png = Image.open(files["depth"])
        assert depth_png.mode.startswith("I;16") and depth_png.size == (32, 32)
        mask = np.asarray(Image.open(files["mask"]))
        assert mask.dtype == np.uint8 and mask.shape == (32, 32)
        depth = read_depth_png(files["depth"], near, far)
        assert np.all((depth == 0) | ((depth >= near) & (depth <= far)))
        # Depth where the opacity reaches 0.4 (the mask holds round(255 * opacity)).
        surface_pixels += int((depth > 0).sum())
        assert np.all(mask[depth > 0] >= 102) and np.all(depth[mask >= 103] > 0)
        latent = np.load(files["latent"])
        assert latent.shape == (512,) and latent.dtype == np.float32
        camera = np.load(files["camera"])
        assert camera.shape == (25,) and camera.dtype == np.float32
        view = mix.sample(record["seed"])
        assert record["category"] == view.category and record["yaw"] == pytest.approx(view.yaw)
        assert np.allclose(camera, view.camera().numpy(), atol=1e-6)
        assert record["camera"] == [float(v) for v in camera]
    assert 0 < surface_pixels < 6 * 32 * 32  # the threshold splits the pixels


def test_depth_and_latent_match_the_generator(reference: Path):
    meta = json.loads((reference / "meta.json").read_text())
    near, far = meta["depth_png"]["near"], meta["depth_png"]["far"]
    G = eg3d.tiny_random(seed=0)
    seeds = [0, 1]
    [a, b] = SampleRenderer(G, SETTINGS).render(seeds)  # same batch as the run
    for sample in (a, b):
        sid = sample.id
        decoded = read_depth_png(reference / f"depth/{sid}.png", near, far)
        surface = sample.opacity >= 0.4
        assert np.array_equal(decoded > 0, surface)
        step = (far - near) / 65534
        assert np.abs(decoded[surface] - sample.depth_z[surface]).max() <= step / 2 + 1e-6
        assert np.array_equal(np.load(reference / f"latents/{sid}.npy"), sample.ws[0])
        assert np.array_equal(np.asarray(Image.open(reference / f"images/{sid}.png")), sample.image)
    # ws of the stored w: the mapping of EG3D's z with the frontal conditioning camera and psi 0.7.
    with torch.inference_mode():
        ws = G.mapping(latent_z(seeds, 512), cameras.conditioning_camera(2), truncation_psi=0.7)
    assert np.allclose(np.load(reference / "latents/seed00000001.npy"), ws[1, 0].numpy(), atol=1e-5)


def test_original_formats_export(tmp_path: Path):
    settings = SampleSettings(legacy=True, depth_min_opacity=0.4)
    run(config(tmp_path, seeds=[3], batch_size=1, settings=settings))
    record = read_samples(tmp_path)["seed00000003"]
    legacy_depth = np.asarray(Image.open(tmp_path / record["files"]["legacy_depth"]))
    assert legacy_depth.dtype == np.uint8 and legacy_depth.shape == (32, 32)
    assert read_legacy_depth_png(tmp_path / record["files"]["legacy_depth"]).max() == pytest.approx(1.0)
    cam = np.load(tmp_path / record["files"]["legacy_camera"])
    assert cam.shape == (1, 25) and np.array_equal(cam[0], np.load(tmp_path / record["files"]["camera"]))
    latent = np.load(tmp_path / record["files"]["legacy_latent"])
    assert latent.shape == (1, 14, 512) and latent.dtype == np.float32
    assert np.array_equal(latent[0, 5], np.load(tmp_path / record["files"]["latent"]))


def test_bf16_autocast_keeps_latents_exact(reference: Path, tmp_path: Path):
    settings = dataclasses.replace(SETTINGS, precision="bf16")
    run(config(tmp_path, seeds=[0, 1], settings=settings))
    for sid in ("seed00000000", "seed00000001"):
        assert np.array_equal(np.load(tmp_path / f"latents/{sid}.npy"), np.load(reference / f"latents/{sid}.npy"))
        ours = np.asarray(Image.open(tmp_path / f"images/{sid}.png")).astype(int)
        ref = np.asarray(Image.open(reference / f"images/{sid}.png")).astype(int)
        assert np.abs(ours - ref).mean() < 3  # bf16 convolutions: ~3 significant digits
    with pytest.raises(ValueError, match="fp16 autocast needs a GPU"):
        run(config(tmp_path / "fp16", seeds=[0], settings=dataclasses.replace(SETTINGS, precision="fp16")))


def test_truncation_cutoff_stores_all_ws(tmp_path: Path):
    run(config(tmp_path, seeds=[0], batch_size=1, settings=SampleSettings(truncation_cutoff=4, depth_min_opacity=0.4)))
    ws = np.load(tmp_path / "latents/seed00000000.npy")
    assert ws.shape == (14, 512) and not np.array_equal(ws[0], ws[-1])
    assert np.array_equal(ws[0], ws[3])


# ----------------------------------------------------------------------------- determinism, resume, shards


def test_same_seeds_give_identical_files(reference: Path, tmp_path: Path):
    run(config(tmp_path, seeds=range(6)))
    assert sample_bytes(tmp_path) == sample_bytes(reference)
    assert (tmp_path / "dataset.json").read_bytes() == (reference / "dataset.json").read_bytes()


def test_rerun_skips_completed_samples(reference: Path, tmp_path: Path):
    first = run(config(tmp_path, seeds=range(4)))
    assert first.written == 4
    second = run(config(tmp_path, seeds=range(6)))
    assert (second.written, second.skipped) == (2, 4)
    assert sample_bytes(tmp_path) == sample_bytes(reference)
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 6 == len({json.loads(line)["id"] for line in lines})


def test_failure_while_writing_leaves_no_partial_sample(reference: Path, tmp_path: Path, monkeypatch):
    from helpers.generation import sample_writer

    real_save_npy = write_npy_atomic

    def failing_save_npy(path: Path, array: np.ndarray) -> None:
        if path.name == "seed00000003.npy" and path.parent.name == "cameras":
            raise OSError("disk full (simulated)")
        real_save_npy(path, array)

    monkeypatch.setattr(sample_writer, "write_npy_atomic", failing_save_npy)
    with pytest.raises(OSError, match="simulated"):
        run(config(tmp_path, seeds=range(6)))
    visible = read_samples(tmp_path)
    assert "seed00000003" not in visible  # its image, depth, mask and latent exist, but it is not a sample
    assert (tmp_path / "images/seed00000003.png").exists()
    check_sample_files(tmp_path, visible.values())

    monkeypatch.setattr(sample_writer, "write_npy_atomic", real_save_npy)
    run(config(tmp_path, seeds=range(6)))
    assert sample_bytes(tmp_path) == sample_bytes(reference)


def test_torn_manifest_line_is_ignored_and_repaired(reference: Path, tmp_path: Path):
    run(config(tmp_path, seeds=range(4)))
    with open(tmp_path / "manifest.jsonl", "a") as fh:
        fh.write('{"id": "seed00000004", "se')  # a crash in the middle of a line
    assert len(read_samples(tmp_path)) == 4
    run(config(tmp_path, seeds=range(6)))
    assert sample_bytes(tmp_path) == sample_bytes(reference)


def test_two_shards_in_one_folder_then_merge(reference: Path, tmp_path: Path):
    for index in range(2):
        report = run(config(tmp_path, seeds=range(6), shard=(index, 2)))
        assert report.manifest.name == shard_manifest_name(index, 2)
    assert not (tmp_path / "dataset.json").exists()
    assert merge_folders(tmp_path) == 6
    assert [p.name for p in manifest_paths(tmp_path)] == ["manifest.jsonl"]
    assert sample_bytes(tmp_path) == sample_bytes(reference)
    assert (tmp_path / "dataset.json").read_bytes() == (reference / "dataset.json").read_bytes()


def test_shards_in_own_folders_then_merge_with_the_cli(reference: Path, tmp_path: Path):
    from helpers import cli

    for index in range(3):
        run(config(tmp_path / f"part{index}", seeds=range(6), shard=(index, 3)))
    assert cli.main(["merge", str(tmp_path / "all"), *(str(tmp_path / f"part{i}") for i in range(3))]) == 0
    assert sample_bytes(tmp_path / "all") == sample_bytes(reference)


def test_merge_refuses_other_settings(tmp_path: Path):
    run(config(tmp_path / "a", seeds=[0], batch_size=1))
    run(config(tmp_path / "b", seeds=[1], batch_size=1, settings=SampleSettings(truncation_psi=0.5, depth_min_opacity=0.4)))
    with pytest.raises(DatasetFolderError, match="truncation_psi"):
        merge_folders(tmp_path / "a", [tmp_path / "b"])


def test_resuming_with_other_settings_is_refused(tmp_path: Path):
    run(config(tmp_path, seeds=[0], batch_size=1))
    with pytest.raises(DatasetFolderError, match="truncation_psi: 0.7 vs 0.5"):
        run(config(tmp_path, seeds=[0, 1], batch_size=1, settings=SampleSettings(truncation_psi=0.5, depth_min_opacity=0.4)))


def test_dry_run_writes_nothing(tmp_path: Path, capsys):
    from helpers import cli

    out = tmp_path / "planned"
    args = ["generate", "--checkpoint", "tiny-random", "--seeds", "0-99", "--out", str(out), "--dry-run", "--batch-size", "4",
            "--meshes", "--mesh-resolution", "128", "--viewpoints", "frontal=0.76,side=0.12,frontal_neck=0.12"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "100 requested, 0 already done, 100 to render in 25 batches of 4" in text
    assert "side_extreme 0" in text and "128³ → .ply" in text and "per sample" in text
    assert not out.exists()


def test_flags_mean_what_they_say(tmp_path: Path, capsys):
    """``--viewpoints frontal=1`` is all frontal (it used to keep the other default weights: about 78 % frontal);
    shares outside [0, 1] or not adding up to 1, ψ outside [0, 1] and a batch size of 0 are refused at parse time."""
    from helpers import cli

    out = tmp_path / "planned"
    common = ["generate", "--checkpoint", "tiny-random", "--seeds", "0-99", "--out", str(out), "--device", "cpu"]
    assert cli.main([*common, "--dry-run", "--viewpoints", "frontal=1"]) == 0
    assert "cameras     frontal 100, side 0, side_extreme 0, frontal_neck 0;" in capsys.readouterr().out
    for flags, message in ((["--viewpoints", "frontal=2"], "outside [0, 1]"),
                           (["--viewpoints", "frontal=0.7"], "add up to 0.7, not 1"),
                           (["--trunc", "-5"], "truncation ψ must be in [0, 1]"),
                           (["--trunc", "1.5"], "truncation ψ must be in [0, 1]"),
                           (["--batch-size", "0"], "--batch-size: must be at least 1")):
        assert cli.main([*common, *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not out.exists()
    with pytest.raises(ValueError, match="truncation ψ"):
        SampleSettings(truncation_psi=-5)


def test_a_second_writer_into_the_same_folder_is_refused(tmp_path: Path):
    """Two runs into one folder at once would both render every seed and append every line twice: the second is
    refused, before it writes anything."""
    from helpers.base.folder_lock import FolderBusyError

    with gen.write_lock(tmp_path, None):  # a first run, still writing
        with pytest.raises(FolderBusyError, match="is being written by generate"):
            run(config(tmp_path, seeds=[0], batch_size=1))
    assert not (tmp_path / "meta.json").exists() and not (tmp_path / "manifest.jsonl").exists()
    assert run(config(tmp_path, seeds=[0], batch_size=1)).written == 1  # once it has finished


def test_shards_lock_only_their_own_shard(reference: Path, tmp_path: Path):
    """Shards write one folder together by design: a second process on the same shard is refused, another shard
    runs; merge waits for a shard that still holds its lock."""
    from helpers.base.folder_lock import FolderBusyError

    with gen.write_lock(tmp_path, (0, 2)):  # shard 0/2 is running
        with pytest.raises(FolderBusyError, match="generate shard 0/2"):
            run(config(tmp_path, seeds=range(6), shard=(0, 2)))
        run(config(tmp_path, seeds=range(6), shard=(1, 2)))  # shard 1/2 runs beside it
    run(config(tmp_path, seeds=range(6), shard=(0, 2)))
    with gen.write_lock(tmp_path, (1, 2)), pytest.raises(FolderBusyError, match="generate shard 1/2"):
        merge_folders(tmp_path, log=lambda *_: None)
    assert merge_folders(tmp_path, log=lambda *_: None) == 6
    assert sample_bytes(tmp_path) == sample_bytes(reference)


# ----------------------------------------------------------------------------- geometry


def ellipsoid_generator(neural_resolution: int = 64) -> eg3d.Generator:
    """tiny_random with tri-planes and decoder replaced by a solid: raw σ = 10 on the surface
    (3x² + y² + 2z²)/3 = 0.2², far above inside, negative outside (EG3D world units)."""
    G = eg3d.tiny_random(seed=0, neural_rendering_resolution=neural_resolution)
    planes = torch.zeros(1, 3, 32, 256, 256)
    u = (torch.arange(256) + 0.5) / 256 * 2 - 1  # plane coordinates: world * 2 / box_warp
    # Mean over the XY, XZ, ZX planes: 4q - 2 with q = (3x² + y² + 2z²)/3. The planes' zero padding
    # (beyond the box) then reads as "far outside".
    planes[0, :, 0] = u[:, None] ** 2 + u[None, :] ** 2 - 2
    G.planes = lambda ws, **_: planes.expand(ws.shape[0], -1, -1, -1, -1).clone()
    first, last = G.decoder.net[0], G.decoder.net[2]
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        first.weight[0, 0] = 1 / first.weight_gain
        first.bias[0] = 22.0 / first.bias_gain  # softplus(x) is exactly x above 20: a linear field
        last.weight.zero_()
        last.bias.zero_()
        # σ = 10 - 1e5 (4q - 0.16): steep, so that the rendered depth (where the accumulated opacity
        # saturates) lies within ~0.003 of the σ = 10 surface.
        last.weight[0, 0] = -1e5 / last.weight_gain
        last.bias[0] = (10 + 1e5 * (4 * 0.04 - 2 + 22)) / last.bias_gain
    return G


def test_mesh_depth_and_mask_describe_the_same_solid(tmp_path: Path):
    from scipy.ndimage import binary_dilation
    from scipy.spatial import cKDTree

    from helpers.mesh import load_mesh

    settings = SampleSettings(mesh=MeshSettings(resolution=96), depth_min_opacity=0.5)
    seeds = [0, 1, 2, 11]  # frontal, frontal_neck, side and side_extreme views
    run(config(tmp_path, seeds=seeds, batch_size=4, settings=settings), generator=ellipsoid_generator())
    meta = json.loads((tmp_path / "meta.json").read_text())
    near, far = meta["depth_png"]["near"], meta["depth_png"]["far"]
    for seed in seeds:
        record = read_samples(tmp_path)[sample_id(seed)]
        mesh = load_mesh(tmp_path / record["files"]["mesh"])
        assert record["mesh_faces"] == mesh.num_faces > 1000
        v = mesh.vertices
        assert np.all(np.abs(v) <= 0.5)  # inside the box
        # The analytic surface: (3x² + y² + 2z²)/3 = 0.2², semi-axes 0.2, 0.35, 0.24 (within 1/10 voxel).
        q = (3 * v[:, 0] ** 2 + v[:, 1] ** 2 + 2 * v[:, 2] ** 2) / 3
        assert np.abs(np.sqrt(q) - 0.2).max() < 0.001

        camera = np.load(tmp_path / record["files"]["camera"])
        cam2world, k = cameras.unpack(camera)
        mask = np.asarray(Image.open(tmp_path / record["files"]["mask"])) >= 128
        res = mask.shape[0]
        # Every vertex in the field of view projects onto the foreground mask (1-pixel tolerance at the
        # silhouette; the solid is taller than the tight frontal crop).
        cam = (np.linalg.inv(cam2world) @ np.c_[v, np.ones(len(v))].T).T[:, :3]
        uv = (k @ cam.T).T
        cols = np.floor(uv[:, 0] / uv[:, 2] * res).astype(int)
        rows = np.floor(uv[:, 1] / uv[:, 2] * res).astype(int)
        inside = (rows >= 0) & (rows < res) & (cols >= 0) & (cols < res)
        assert inside.mean() > 0.5
        rows, cols = rows[inside], cols[inside]

        assert binary_dilation(mask)[rows, cols].mean() > 0.995
        # And the mask is covered by the projected vertices.
        covered = np.zeros_like(mask)
        covered[rows, cols] = True
        assert (mask & ~binary_dilation(covered)).sum() <= 0.01 * mask.sum()

        # Depth pixels back-projected through the camera land on the mesh surface.
        depth = read_depth_png(tmp_path / record["files"]["depth"], near, far)
        dirs = cameras.pixel_directions(k, res, res)
        points_cam = dirs[depth > 0] * depth[depth > 0][:, None]
        points = (cam2world[:3, :3] @ points_cam.T).T + cam2world[:3, 3]
        distance, _ = cKDTree(v).query(points)
        assert np.percentile(distance, 95) < 0.01  # vertex spacing ~0.01
        q = (3 * points[:, 0] ** 2 + points[:, 1] ** 2 + 2 * points[:, 2] ** 2) / 3
        assert np.percentile(np.abs(np.sqrt(q) - 0.2), 95) < 0.005  # on the analytic surface
        colors = mesh.vertex_colors
        assert colors is not None and colors.shape == (mesh.num_vertices, 3)


def test_dry_run_of_a_registry_checkpoint_downloads_nothing(tmp_path: Path, monkeypatch, capsys):
    from helpers import cli, download

    def no_network(*args, **kwargs):
        raise AssertionError("a dry run must not download")

    from helpers.eg3d.checkpoints import published as registry

    monkeypatch.setattr(download, "download", no_network)
    monkeypatch.setattr(registry, "download", no_network)
    monkeypatch.setenv("HELPERS_CACHE", str(tmp_path / "cache"))
    args = ["generate", "--checkpoint", "ffhq512-128", "--seeds", "0-9", "--out", str(tmp_path / "x"), "--dry-run",
            "--device", "cpu"]
    assert cli.main(args) == 0
    assert "images 512², depth/mask 128²" in capsys.readouterr().out
    assert eg3d.load_config("ffhq512-128").neural_rendering_resolution == 128


def test_settings_read_back_from_meta_resume_the_folder(tmp_path):
    """settings_from_json inverts settings_json (what meta.json holds): a run with them resumes the folder."""
    from helpers.generation import MeshSettings, SampleSettings, ViewpointMix, generate
    from helpers.generation.generate_dataset import GenerateConfig, settings_from_json, settings_json
    from helpers.mesh.cleanup import CleanConfig

    settings = SampleSettings(truncation_psi=0.5, viewpoints=ViewpointMix.parse("frontal=0.5,side=0.5"),
                              mesh=MeshSettings(resolution=12, level=0.5, mrc=True,
                                                clean=CleanConfig(target_faces=50, crop=((-1, -1, -1), (1, 1, 1)))))
    stored = json.loads(json.dumps(settings_json(settings, (2.0, 3.5))))
    again = settings_from_json(stored)
    assert settings_json(again, (2.0, 3.5)) == stored and again.depth_range == (2.0, 3.5)
    assert again.mesh.clean.crop == ((-1, -1, -1), (1, 1, 1)) and stored["mesh"]["clean"]  # input left as it was
    out = tmp_path / "data"
    generate(GenerateConfig(out=out, seeds=(0,), checkpoint="tiny-random", settings=SampleSettings(),
                            progress=False), log=lambda *_: None)
    meta = json.loads((out / "meta.json").read_text())
    generate(GenerateConfig(out=out, seeds=(0, 1), checkpoint="tiny-random",
                            settings=settings_from_json(meta["settings"]), progress=False), log=lambda *_: None)
    assert len(read_samples(out)) == 2
