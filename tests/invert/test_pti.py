"""PTI on the tiny random generator: projection + tuning round trip, determinism, weight deltas, saving; the default
preset against EG3D-projector's recipe, each stage's LPIPS network, size and ray samples."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from helpers import eg3d
from helpers.base import cameras
from helpers.base.captions import COLORBAR_HEIGHT, HEADER_HEIGHT
from helpers.base.photo import tensor_to_image
from helpers.generation.viewpoints import ViewpointMix
from helpers.invert import inversion as inversion_module
from helpers.invert import pti
from helpers.invert.pti import pti_stages
from helpers.invert.inversion import InversionConfig, invert_aligned
from helpers.invert.lpips_weights import load_lpips, load_lpips_nets
from helpers.invert.weight_delta import apply_weight_delta, load_weight_delta, save_weight_delta, weight_delta

CAMERA = cameras.camera_vector(0.35, -0.1)[0].numpy()


@pytest.fixture(scope="module")
def known_face(generator):
    """A render of a known latent from a known camera: (target image tensor, ws)."""
    z = torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ws = generator.mapping(z, cameras.conditioning_camera(1))
        image = generator.synthesize(ws, torch.from_numpy(CAMERA), generator=torch.Generator().manual_seed(3))["image"]
    return image, ws


@pytest.fixture(scope="module")
def inversion(generator, lpips, known_face):
    target = tensor_to_image(known_face[0])
    return invert_aligned(target, CAMERA, generator, lpips, InversionConfig(pti=pti.PTIConfig.preset("smoke"),
                                                                             mesh_resolution=32, mesh_level=0.0))


def _mean(values):
    return float(np.mean(values))


def test_round_trip_reaches_30_db_and_losses_decrease(generator, lpips, known_face, inversion):
    target = tensor_to_image(known_face[0])
    # What the projection starts from: the mean latent, far from the target.
    w_avg, _ = pti.latent_statistics(generator, cameras.conditioning_camera(1), 64, torch.Generator().manual_seed(0))
    start = pti.psnr(tensor_to_image(generator.synthesize(
        w_avg[:, None].expand(1, generator.num_ws, -1), torch.from_numpy(CAMERA),
        generator=torch.Generator().manual_seed(0))["image"]), target)
    metrics = inversion.metrics
    assert metrics["projection"]["psnr"] > start + 3
    assert metrics["tuned"]["psnr"] > 30.0
    assert metrics["tuned"]["psnr"] >= metrics["projection"]["psnr"]
    assert metrics["tuned"]["lpips"] <= metrics["projection"]["lpips"] + 1e-6
    assert 0 < metrics["tuned"]["ssim"] <= 1
    proj = [h.loss for h in inversion.projection.history]
    tune = [h.loss for h in inversion.tuning.history]
    assert len(proj) == 8 and len(tune) == 32
    assert _mean(proj[-3:]) < 0.5 * _mean(proj[:2])
    assert _mean(tune[-4:]) < _mean(tune[:4])
    # The pivot is one w shared by every layer (W, not W+).
    assert inversion.w.shape == (generator.w_dim,)


def test_base_generator_is_not_modified(generator, inversion):
    fresh = eg3d.tiny_random(seed=0)
    for (name, a), b in zip(generator.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    changed = weight_delta(generator, inversion.generator)
    assert changed and not any("noise_const" in name for name in changed)


def test_projection_is_deterministic_and_seeded(generator, lpips, known_face):
    config = dataclasses.replace(pti.PTIConfig.preset("smoke"), projection=dataclasses.replace(
        pti.PRESETS["smoke"].projection, steps=2))
    a = pti.project(generator, known_face[0], CAMERA, lpips, config)
    b = pti.project(generator, known_face[0], CAMERA, lpips, config)
    c = pti.project(generator, known_face[0], CAMERA, lpips, dataclasses.replace(config, seed=1))
    assert torch.equal(a.ws, b.ws)
    assert not torch.equal(a.ws, c.ws)


def test_w_plus_and_initial_latent(generator, lpips, known_face):
    smoke = pti.PRESETS["smoke"]
    config = dataclasses.replace(smoke, projection=dataclasses.replace(smoke.projection, steps=2, w_plus=True))
    result = pti.project(generator, known_face[0], CAMERA, lpips, config, w_init=known_face[1])
    assert result.ws.shape == (1, generator.num_ws, generator.w_dim)
    assert result.w.shape == (generator.num_ws, generator.w_dim)  # layers differ after W+ steps
    # Starting at the true latent, two small steps stay close to it.
    assert (result.ws - known_face[1]).abs().mean() < 0.2 * (known_face[1] - generator.backbone.mapping.w_avg).abs().mean()


def test_learning_rate_schedule_and_noise_penalty():
    cfg = pti.ProjectionConfig()
    assert pti_stages._lr_factor(0.0, cfg) == 0.0
    assert pti_stages._lr_factor(0.05, cfg) == pytest.approx(1.0)
    assert pti_stages._lr_factor(0.5, cfg) == pytest.approx(1.0)
    assert pti_stages._lr_factor(0.875, cfg) == pytest.approx(0.5)
    assert pti_stages._lr_factor(1.0, cfg) == pytest.approx(0.0, abs=1e-12)
    gen = torch.Generator().manual_seed(0)
    white = [torch.randn(64, 64, generator=gen)]
    smooth = [torch.nn.functional.avg_pool2d(torch.randn(1, 1, 68, 68, generator=gen), 5, 1)[0, 0]]
    smooth = [(s - s.mean()) / s.std() for s in smooth]
    assert pti_stages._noise_penalty(smooth) > 100 * pti_stages._noise_penalty(white)


# EG3D-projector's recipe, written out by hand from its files (docs/inversion.md has the table with the sources):
# eg3d/run_projector.py + projector/w_projector.py (projection), projector/PTI/configs/hyperparameters.py,
# training/coaches/{base,single_image}_coach.py, criteria/l2_loss.py, utils/models_utils.py (tuning).
RECIPE = {
    "projection": {"steps": 500, "lr": 0.01, "w_plus": False, "w_avg_samples": 600, "lr_rampup": 0.05,
                   "lr_rampdown": 0.25, "noise_factor": 0.05, "noise_ramp": 0.75, "optimize_noise": True,
                   "noise_regularize": 1e5, "lpips_net": "vgg", "lpips_resolution": 256, "l2_weight": 0.0,
                   "ray_sample_mult": 2,
                   "refine_camera": False, "camera_lr": 0.002},  # ours: camera refinement, off as in the recipe
    "tuning": {"steps": 350, "lr": 3e-4, "l2_weight": 1.0, "lpips_weight": 1.0, "lpips_threshold": 0.06,
               "lpips_net": "alex", "lpips_resolution": None, "ray_sample_mult": 2},
    "conditioning": "frontal", "precision": "fp32",
    "seed": 0,  # ours: EG3D-projector draws from unseeded global RNGs (and numpy's RandomState(123) for w_avg)
}


def _changes(config: pti.PTIConfig) -> dict[str, object]:
    """Settings of ``config`` that differ from the recipe, as ``{"stage.field": value}``."""
    flat = {f"{k}.{f}" if isinstance(v, dict) else k: x for k, v in config.as_dict().items()
            for f, x in (v.items() if isinstance(v, dict) else [(None, v)])}
    recipe = {f"{k}.{f}" if isinstance(v, dict) else k: x for k, v in RECIPE.items()
              for f, x in (v.items() if isinstance(v, dict) else [(None, v)])}
    assert flat.keys() == recipe.keys(), "a new setting: add it to RECIPE and to the table in docs/inversion.md"
    return {k: v for k, v in flat.items() if v != recipe[k]}


def test_default_preset_is_eg3d_projectors_recipe():
    assert pti.PTIConfig().as_dict() == RECIPE
    assert _changes(pti.PRESETS["default"]) == {}
    assert pti.PRESETS["default"].lpips_nets == ("vgg", "alex")


def test_fast_and_smoke_presets_differ_as_documented():
    """Our presets (docs/inversion.md, "Presets"): what each changes from the recipe, and nothing else."""
    assert _changes(pti.PRESETS["fast"]) == {
        "projection.steps": 200, "projection.lr": 0.02, "projection.optimize_noise": False,
        "projection.ray_sample_mult": 1, "tuning.steps": 150, "tuning.lr": 5e-4, "tuning.ray_sample_mult": 1}
    assert _changes(pti.PRESETS["smoke"]) == {
        "projection.steps": 8, "projection.lr": 0.05, "projection.w_avg_samples": 64,
        "projection.lpips_resolution": 32, "projection.l2_weight": 10.0, "projection.ray_sample_mult": 1,
        "tuning.steps": 32, "tuning.lr": 1e-3, "tuning.lpips_net": "vgg", "tuning.lpips_resolution": 32,
        "tuning.lpips_threshold": 0.0, "tuning.ray_sample_mult": 1}
    assert pti.PRESETS["fast"].lpips_nets == ("vgg", "alex") and pti.PRESETS["smoke"].lpips_nets == ("vgg",)


def test_presets_and_config_round_trip():
    config = pti.PTIConfig.preset("fast", seed=3)
    assert config.seed == 3
    assert pti.PTIConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config
    with pytest.raises(ValueError, match="unknown PTI preset"):
        pti.PTIConfig.preset("slow")
    with pytest.raises(ValueError, match="conditioning"):
        pti.PTIConfig(conditioning="side")
    # Settings recorded before the stages had a network and a ray-sample multiplier ran VGG at 48 + 48.
    old = pti.PTIConfig().as_dict()
    for stage in ("projection", "tuning"):
        del old[stage]["lpips_net"], old[stage]["ray_sample_mult"]
    read = pti.PTIConfig.from_dict(old)
    assert (read.tuning.lpips_net, read.tuning.ray_sample_mult, read.projection.ray_sample_mult) == ("vgg", 1, 1)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: pti.TuningConfig(lpips_net="squeeze"), "tuning.lpips_net must be one of vgg, alex"),
    (lambda: pti.TuningConfig(lpips_resolution=16), "below LPIPS-alex's minimum of 31 pixels: use None"),
    (lambda: pti.ProjectionConfig(lpips_resolution=8), "below LPIPS-vgg's minimum of 16 pixels"),
    (lambda: pti.ProjectionConfig(ray_sample_mult=0), "projection.ray_sample_mult must be a whole number >= 1"),
    (lambda: pti.TuningConfig(ray_sample_mult=1.5), "tuning.ray_sample_mult must be a whole number >= 1"),
])
def test_stage_settings_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_with_ray_samples_is_a_view_sharing_the_weights(generator):
    rendering = generator.config.rendering
    view = pti.with_ray_samples(generator, 2)
    assert (view.config.rendering.depth_resolution, view.config.rendering.depth_resolution_importance) == (
        2 * rendering.depth_resolution, 2 * rendering.depth_resolution_importance)
    assert generator.config.rendering is rendering  # the generator itself is unchanged
    assert view.config.rendering.ray_start == rendering.ray_start and view.decoder is generator.decoder
    assert all(a is b for a, b in zip(view.parameters(), generator.parameters()))
    assert pti.with_ray_samples(generator, 1) is generator
    draws = view.draws(1, generator=torch.Generator().manual_seed(0))
    assert draws.stratified.shape[-2] == 2 * rendering.depth_resolution


class _Seen:
    """Records which LPIPS network saw which image size, and the ray samples of every PTI render."""

    def __init__(self, monkeypatch, nets):
        self.lpips: list[tuple[str, tuple[int, int]]] = []
        self.renders: list[tuple[int, int]] = []
        for name in nets:
            nets[name].trunk.register_forward_pre_hook(
                lambda module, args, name=name: self.lpips.append((name, tuple(args[0].shape[-2:]))))
        render = pti_stages._render

        def counting(G, *args):
            self.renders.append((G.config.rendering.depth_resolution, G.config.rendering.depth_resolution_importance))
            return render(G, *args)

        monkeypatch.setattr(pti_stages, "_render", counting)


def test_each_stage_uses_its_own_lpips_network_size_and_ray_samples(generator, known_face, monkeypatch):
    """Swapped networks and two multipliers, so that each stage visibly follows its own settings; the final
    renders are made as each stage fitted them; the returned generator keeps the checkpoint's settings."""
    smoke = pti.PRESETS["smoke"]
    config = dataclasses.replace(
        smoke, projection=dataclasses.replace(smoke.projection, steps=1, lpips_net="alex", lpips_resolution=64,
                                              ray_sample_mult=2),
        tuning=dataclasses.replace(smoke.tuning, steps=1, lpips_net="vgg", lpips_resolution=32, ray_sample_mult=3,
                                   lpips_threshold=-1.0))
    nets = load_lpips_nets("random", config.lpips_nets)
    seen = _Seen(monkeypatch, nets)
    subjects: list[tuple[str, int]] = []
    subject = inversion_module.EG3DSubject

    def recording(G, ws, name):
        subjects.append((name, G.config.rendering.depth_resolution))
        return subject(G, ws, name)

    monkeypatch.setattr(inversion_module, "EG3DSubject", recording)
    result = invert_aligned(tensor_to_image(known_face[0]), CAMERA, generator, nets, InversionConfig(pti=config))
    base = generator.config.rendering.depth_resolution  # 48 + 48, as the FFHQ checkpoints
    assert seen.renders == [(2 * base, 2 * base), (3 * base, 3 * base)]
    # Projection: AlexNet at 64² (target, then the render); tuning: VGG at 32² (target, render); metrics: VGG at 32².
    assert seen.lpips[:4] == [("alex", (64, 64))] * 2 + [("vgg", (32, 32))] * 2
    assert set(seen.lpips[4:]) == {("vgg", (32, 32))}
    assert subjects == [("projected photo", 2 * base), ("inverted photo", 3 * base)]
    assert result.generator.config.rendering.depth_resolution == base  # rebuildable from a weight delta as is
    assert result.subject().generator.config.rendering.depth_resolution == 3 * base


def test_default_tuning_is_alexnet_on_the_full_image_with_96_plus_96_samples(generator, known_face, monkeypatch):
    """The tuning stage of the recipe, one step: LPIPS-AlexNet sees the 512² render, not a downsampled one."""
    default = pti.PRESETS["default"]
    config = dataclasses.replace(default, tuning=dataclasses.replace(default.tuning, steps=1, lpips_threshold=-1.0))
    nets = load_lpips_nets("random", ("alex",))
    seen = _Seen(monkeypatch, nets)
    pti.tune(generator, known_face[0], CAMERA, known_face[1], nets, config)
    assert seen.lpips == [("alex", (512, 512))] * 2
    base = generator.config.rendering
    assert seen.renders == [(2 * base.depth_resolution, 2 * base.depth_resolution_importance)]


def test_a_missing_network_is_reported_before_the_projection(generator, known_face, monkeypatch):
    monkeypatch.setattr(pti, "project", lambda *a, **k: pytest.fail("projected without the tuning's network"))
    with pytest.raises(ValueError, match=r"^PTI's tuning stage uses LPIPS-alex but only LPIPS-vgg was given: pass "
                                         r"load_lpips_nets"):
        invert_aligned(tensor_to_image(known_face[0]), CAMERA, generator, load_lpips("random"), InversionConfig())


def test_metrics():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255
    assert pti.psnr(a, a) == float("inf")
    assert pti.psnr(a, b) == pytest.approx(10 * np.log10(8 * 8 * 3))
    image = (np.arange(16 * 16 * 3).reshape(16, 16, 3) % 256).astype(np.uint8)
    assert np.array_equal(tensor_to_image(pti.image_to_tensor(image)), image)
    # gen_samples.py's conversion: x·127.5 + 128, clamped, truncated (0 → 128, not round(127.5)).
    values = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0]).view(1, 3, 1, 2)
    assert tensor_to_image(values).reshape(-1).tolist() == [0, 128, 255, 0, 191, 255]
    with pytest.raises(ValueError, match="uint8"):
        pti.image_to_tensor(image.astype(np.float32))


def test_weight_delta_round_trip(tmp_path, generator, inversion):
    tuned = inversion.generator
    delta = weight_delta(generator, tuned)
    base_id = eg3d.checkpoint_identity("tiny-random")
    assert base_id == {"checkpoint": "tiny-random", "path": None, "sha256": None, "tiny_seed": 0}
    path = save_weight_delta(delta, tmp_path / "delta.safetensors", base=base_id)
    loaded, recorded = load_weight_delta(path)
    assert recorded == base_id and set(loaded) == set(delta)
    rebuilt = apply_weight_delta(eg3d.load("tiny-random"), path)  # the same base, as load() says
    for name, value in tuned.state_dict().items():
        scale = float(delta[name].abs().max()) if name in delta else 0.0
        assert torch.allclose(rebuilt.state_dict()[name], value, atol=scale * 1e-3 + 1e-7), name
    full = sum(v.numel() * 4 for v in tuned.state_dict().values() if v.is_floating_point())
    assert path.stat().st_size < 0.6 * full  # float16: about half a float32 checkpoint
    with pytest.raises(ValueError, match="tuned from"):
        apply_weight_delta(generator, path, base_identity={"checkpoint": "ffhq512-128", "sha256": "ab"})
    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match="not a weight delta"):
        load_weight_delta(other)


def test_weight_delta_refuses_another_base_by_default(tmp_path, generator, inversion):
    """Issue 19, item 2: a delta applies only to its own base (the tiny generator's seed counts); an override flag."""
    from helpers.base.errors import UserError

    path = save_weight_delta(weight_delta(generator, inversion.generator), tmp_path / "delta.safetensors",
                             base=eg3d.checkpoint_identity("tiny-random:0"))
    other = eg3d.load("tiny-random:1")
    assert eg3d.generator_identity(other)["tiny_seed"] == 1
    with pytest.raises(ValueError, match="was tuned from") as info:
        apply_weight_delta(other, path)  # no base_identity given: the generator knows its own
    from helpers.invert.weight_delta import WeightDeltaBaseError

    message = str(info.value)
    assert isinstance(info.value, WeightDeltaBaseError) and isinstance(info.value, UserError) and "\n" not in message
    assert "'tiny-random:0' (the tiny generator, seed 0)" in message and "seed 1" in message
    assert "allow_other_base=True" in message
    forced = apply_weight_delta(other, path, allow_other_base=True)  # explicit: on the caller's head
    name = next(iter(load_weight_delta(path)[0]))
    assert not torch.equal(forced.state_dict()[name], other.state_dict()[name])
    # A generator built without load() has no known identity: refused unless named or overridden.
    with pytest.raises(WeightDeltaBaseError, match="the generator's checkpoint is unknown"):
        apply_weight_delta(generator, path)
    apply_weight_delta(generator, path, base_identity=eg3d.checkpoint_identity("tiny-random"))
    assert eg3d.generator_identity(apply_weight_delta(eg3d.load("tiny-random"), path)) is None  # a copy


def test_weight_delta_without_a_known_base_is_refused_unless_overridden(tmp_path, generator, inversion):
    """Deltas written before identities recorded the tiny seed (or with no base at all) still read, but do not apply
    silently."""
    delta = weight_delta(generator, inversion.generator)
    old = save_weight_delta(delta, tmp_path / "old.safetensors", base={"checkpoint": "tiny-random", "sha256": None})
    bare = save_weight_delta(delta, tmp_path / "bare.safetensors")
    base = eg3d.load("tiny-random")
    for path in (old, bare):
        assert set(load_weight_delta(path)[0]) == set(delta)
        with pytest.raises(ValueError, match="does not record which checkpoint it was tuned from") as info:
            apply_weight_delta(base, path)
        assert "\n" not in str(info.value)
        apply_weight_delta(base, path, allow_other_base=True)


def test_same_base_rules():
    from helpers.invert.weight_delta import same_base

    file_a = {"checkpoint": "ffhq512-128", "path": "/c/ffhq512-128.pkl", "sha256": "AB12", "tiny_seed": None}
    copy_a = {"checkpoint": "/elsewhere/copy.pkl", "path": "/elsewhere/copy.pkl", "sha256": "ab12", "tiny_seed": None}
    file_b = dict(file_a, sha256="cd34")
    assert same_base(file_a, copy_a) is True  # the same bytes under another name
    assert same_base(file_a, file_b) is False  # the same name, other bytes
    tiny0, tiny3 = eg3d.checkpoint_identity("tiny-random"), eg3d.checkpoint_identity("tiny-random:3")
    assert tiny3["tiny_seed"] == 3 and same_base(tiny0, eg3d.checkpoint_identity("tiny-random:0")) is True
    assert same_base(tiny0, tiny3) is False and same_base(tiny0, file_a) is False
    assert same_base({"checkpoint": "tiny-random", "sha256": None}, tiny0) is None  # an old record: unknown
    assert same_base({}, file_a) is None and same_base(file_a, None) is None


def test_inversion_save_records_the_loaded_base(tmp_path, inversion):
    """Without base_identity, save() records the identity load() gave the base generator."""
    base = eg3d.load("tiny-random")  # the weights of the session's generator, the inversion's base
    loaded = dataclasses.replace(inversion, tuning=dataclasses.replace(inversion.tuning, base=base))
    out = loaded.save(tmp_path / "inv", mesh=False, frames=0)
    assert load_weight_delta(out / "generator_delta.safetensors")[1] == eg3d.checkpoint_identity("tiny-random")
    assert json.loads((out / "inversion.json").read_text())["base"]["tiny_seed"] == 0
    apply_weight_delta(eg3d.load("tiny-random:0"), out / "generator_delta.safetensors")


def test_inversion_save_writes_every_output(tmp_path, inversion):
    from helpers.base.depth_png import read_depth_png
    from helpers.generation.sample_settings import default_depth_range
    from helpers.mesh import load_mesh

    out = inversion.save(tmp_path / "inv", base_identity={"checkpoint": "tiny-random", "sha256": None}, frames=3)
    names = {p.name for p in out.iterdir()}
    assert {"target.png", "reconstruction.png", "projected.png", "novel_views.png", "pivot_w.npy", "camera.npy",
            "depth.png", "opacity.png", "generator_delta.safetensors", "losses.csv", "inversion.json",
            "mesh.ply", "orbit.gif"} <= names
    from PIL import Image

    with Image.open(out / "orbit.gif") as gif:
        assert gif.n_frames == 3 and gif.size == (512, 512)
    info = json.loads((out / "inversion.json").read_text())
    assert info["metrics"]["tuned"]["psnr"] == pytest.approx(inversion.metrics["tuned"]["psnr"])
    near, far = info["depth_range"]
    # The encoding of the batch's depth/<id>.png.
    assert (near, far) == default_depth_range(inversion.generator.config, ViewpointMix())
    depth = read_depth_png(out / "depth.png", near, far)
    surface = inversion.opacity >= 0.5
    assert surface.any()
    assert np.allclose(depth[surface], inversion.depth[surface], atol=(far - near) / 65535 + 1e-6)
    assert np.array_equal(np.load(out / "camera.npy"), inversion.camera)
    lines = (out / "losses.csv").read_text().splitlines()
    assert len(lines) == 1 + 8 + 32 and lines[0].startswith("stage,")
    mesh = load_mesh(out / "mesh.ply", allow_empty=True)
    assert mesh.num_vertices > 0
    assert np.all(np.abs(mesh.vertices) <= 0.5 * float(inversion.generator.config.rendering.box_warp) + 1e-6)
    strip = inversion.novel_views(yaws=(-0.3, 0.3))
    assert strip.shape == (512, 1024, 3)


def test_orbit_frames_render_each_camera_once(inversion, monkeypatch):
    """A turntable passes every yaw twice: 8 frames (yaws 0, ±0.35, ±0.5) need 5 renders, of the same pictures."""
    subject = inversion.subject()
    assert inversion.subject() is subject  # one set of tri-planes per inversion
    render = subject.render_maps
    cameras_rendered: list[np.ndarray] = []

    def counting(camera):
        cameras_rendered.append(camera)
        return render(camera)

    monkeypatch.setattr(subject, "render_maps", counting)
    frames = inversion.orbit_frames(8)
    assert len(frames) == 8 and len(cameras_rendered) == 5
    assert frames[3] is frames[1] and frames[4] is frames[0]
    again = render(cameras.camera_vector(0.5 * np.sin(3 * np.pi / 4), 0.0)[0].numpy())["image"]
    assert np.array_equal(frames[3], again)


def test_orbit_parameters_round_trip():
    from helpers.base.cameras import camera_from_angles
    from helpers.invert.inversion import orbit_parameters

    camera = camera_from_angles(0.3, -0.2, 0.1).numpy()
    assert orbit_parameters(camera) == pytest.approx((0.3, -0.2, 0.1), abs=1e-5)


def test_camera_refinement_moves_a_wrong_camera_towards_the_true_one(generator, lpips, known_face):
    """The target was rendered at yaw 0.35; projection starts from a camera 0.15 rad off and refines it."""
    from helpers.base.cameras import camera_from_angles

    smoke = pti.PRESETS["smoke"]
    config = dataclasses.replace(smoke, projection=dataclasses.replace(smoke.projection, steps=8, refine_camera=True,
                                                                       camera_lr=0.05))
    wrong = camera_from_angles(0.2, -0.1, 0.0).numpy()
    result = pti.project(generator, known_face[0], wrong, lpips, config, w_init=known_face[1],
                         camera_angles=(0.2, -0.1, 0.0))
    yaw, _, _ = cameras.orbit_angles(result.camera[:16].reshape(4, 4).astype(np.float64))
    assert abs(yaw - 0.35) < abs(0.2 - 0.35)
    assert not np.array_equal(result.camera, wrong)
    with pytest.raises(ValueError, match="camera_angles"):
        pti.project(generator, known_face[0], wrong, lpips, config)


def test_report_pictures(inversion):
    from helpers.photo3d.inversion_figures import comparison_strip, loss_figure

    strip = comparison_strip(inversion, size=64)  # titles above, the depth's colour bar below
    assert strip.shape == (HEADER_HEIGHT + 64 + COLORBAR_HEIGHT, 256, 3) and strip.dtype == np.uint8
    fig = loss_figure(inversion.projection.history + inversion.tuning.history)
    assert [len(trace.x) for trace in fig.data] == [8, 8, 32, 32]
    lines = inversion.summary().splitlines()
    assert lines[0].strip().startswith("projection: psnr") and "tuned: psnr" in lines[1]


def test_progress_bars_give_each_stage_its_steps(generator, lpips, known_face, capsys):
    smoke = pti.PRESETS["smoke"]
    short = dataclasses.replace(smoke, projection=dataclasses.replace(smoke.projection, steps=2),
                                tuning=dataclasses.replace(smoke.tuning, steps=3))
    projection = pti.project(generator, known_face[0], CAMERA, lpips, short, progress=True)
    pti.tune(generator, known_face[0], CAMERA, projection.ws, lpips, short, progress=True)
    err = capsys.readouterr().err
    assert "PTI projection" in err and "2/2" in err and "PTI tuning" in err and "3/3" in err
    pti.project(generator, known_face[0], CAMERA, lpips, short)  # no bar unless asked
    assert "PTI" not in capsys.readouterr().err


def test_bf16_autocast_runs_and_stays_close(generator, lpips, known_face):
    """bf16 autocast of renders and LPIPS (the GPU speed option) on the CPU: finite losses, a pivot close to fp32."""
    smoke = pti.PRESETS["smoke"]
    short = dataclasses.replace(smoke, projection=dataclasses.replace(smoke.projection, steps=2),
                                tuning=dataclasses.replace(smoke.tuning, steps=2))
    fp32 = pti.project(generator, known_face[0], CAMERA, lpips, short)
    bf16 = pti.project(generator, known_face[0], CAMERA, lpips, dataclasses.replace(short, precision="bf16"))
    assert all(np.isfinite(h.loss) for h in bf16.history)
    assert bf16.ws.dtype == torch.float32
    start, _ = pti.latent_statistics(generator, cameras.conditioning_camera(1), short.projection.w_avg_samples,
                                     torch.Generator().manual_seed(short.seed))
    moved = (fp32.ws[:, 0] - start).abs().mean()  # how far two fp32 steps move w
    assert (bf16.ws - fp32.ws).abs().mean() < 0.25 * moved
    tuned = pti.tune(generator, known_face[0], CAMERA, bf16.ws, lpips, dataclasses.replace(short, precision="bf16"))
    assert all(np.isfinite(h.loss) for h in tuned.history)
    assert next(tuned.generator.parameters()).dtype == torch.float32
    assert pti.PTIConfig(precision="auto").resolved_precision(torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        pti.PTIConfig(precision="fp16")
