"""Dataset generation speed: ``helpers.generation.generate_dataset`` side by side with the official EG3D path.

    python benchmarks/generate_speed.py --arch tiny --skip-mesh          # quick check, ours only
    python benchmarks/generate_speed.py --official-src path/to/eg3d \\
        --samples 4 --repeats 3                                           # + official, same weights

Both sides use the full-size ffhq512-128 architecture with the same random weights (``--arch tiny``:
the small test generator, ours only), the same seeds, the same render cameras (the default viewpoint
mix of :class:`helpers.generation.viewpoints.ViewpointMix`, per seed), conditioning on the frontal camera, ψ = 0.7
on all ws, float32, and the same renderer random numbers. Measured:

* **samples/s for a dataset** of ``--samples`` seeds.
  Ours: :func:`helpers.generation.generate_dataset.generate` into a fresh folder (``--batch-size`` seeds per
  batch, ``--workers`` writer threads; setup, manifest and dataset.json included), writing per
  sample a 512² PNG image, a 16-bit z-depth PNG, an opacity mask PNG, the latent and the camera.
  Official: what EG3D's ``gen_samples.py`` does for one seed and one view, at batch 1:
  z = ``RandomState(seed).randn(1, 512)``, ``G.mapping(z, c_frontal, truncation_psi=0.7)``,
  ``G.synthesis(ws, c_render, noise_mode='const')``, the image as ``(x*127.5+128).clamp(0,255)``
  uint8 saved with PIL, plus what the original project kept beside it: ``image_depth`` (128²
  distance along the ray) min–max normalised to an 8-bit PNG (near = bright), the camera (1, 25)
  and ws (1, 14, 512) as .npy. (No mask: the official path has none.)
* **seconds per mesh** at ``--mesh-resolution`` (256³ by default) for one seed.
  Official: ``gen_samples.py --shapes --shape-format .ply``: the ``create_samples`` lattice,
  ``G.sample`` per chunk of 1,000,000 points (each call re-runs mapping and the tri-plane
  backbone), flip, border padding (``int(30·N/256)`` voxels of −1000), then
  ``shape_utils.convert_sdf_samples_to_ply`` (skimage marching cubes + its PLY writer). That needs
  ``plyfile`` (``pip install plyfile``, or ``pip install --target DIR plyfile`` and ``PYTHONPATH=DIR``); without
  it the script falls back to skimage marching cubes + a trimesh PLY export and says so (faster
  than the official writer, so the official time is then an underestimate).
  Ours: the work a mesh adds to a sample in ``generate``, measured directly: σ on the lattice from
  the render's cached tri-planes (``SampleRenderer.density``) plus ``SampleWriter.write`` with the
  mesh (marching cubes with the same padding, vertex colours, binary PLY) minus the same write
  without it. Ours also colours the vertices; the official does not.

Random weights never reach EG3D's σ = 10 iso-level (σ stays below ~1.5), so by default
(``--mesh-level auto``) both sides use the median σ inside the padded box of the first seed, which
gives a face-sized surface (~240k vertices at 256³; a real face has ~4·N² ≈ 260k).

Sanity checks: with the same per-seed draws the renders agree (the official renderer takes its
stratified/importance draws from the global RNG in the same order as ours, so ``torch.manual_seed
(seed)`` before the official synthesis reproduces ``torch.Generator().manual_seed(seed)`` of
ours, on the CPU); the script prints the float difference of one render and the uint8 difference
of the written PNGs.

``--official-src`` is a local checkout of https://github.com/NVlabs/eg3d (the repository root or its
``eg3d/`` folder; ``git clone https://github.com/NVlabs/eg3d``; no default), imported, never copied; it is loaded
via ``benchmarks/eg3d_speed.py``.
Timings interleave ours and the official run and report medians and paired ratios. The ratio is what
transfers between machines; absolute times only hold for the machine they were measured on. Both sides
run with large freed blocks kept in the process, as ``python -m helpers`` does (``--default-malloc``:
glibc's default, which costs the official code many more page faults).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (  # noqa: E402 (this folder: run as a script)
    add_allocator_option,
    apply_allocator_option,
    loadavg,
    machine_text,
    paired_ratios,
    timed,
)
from eg3d_speed import frontal_camera, load_official  # noqa: E402

from helpers.base import cameras  # noqa: E402
from helpers.dataset_folder.layout import sample_id  # noqa: E402
from helpers.eg3d.config import _FFHQ512_128_INIT_KWARGS, GeneratorConfig  # noqa: E402
from helpers.eg3d.generator import Generator  # noqa: E402
from helpers.eg3d.subject import latent_z  # noqa: E402
from helpers.eg3d.tiny import tiny_config  # noqa: E402
from helpers.generation.generate_dataset import GenerateConfig, generate  # noqa: E402
from helpers.generation.sample_renderer import SampleRenderer, render_draws  # noqa: E402
from helpers.generation.sample_settings import MeshSettings, SampleSettings, default_depth_range  # noqa: E402
from helpers.generation.sample_writer import SampleWriter  # noqa: E402
from helpers.mesh import (  # noqa: E402
    DensityGrid,
    lattice_points,
    official_pad_width,
    official_sample_points,
    save_mesh,
)

OFFICIAL_MAX_BATCH = 1_000_000  # gen_samples.py





def official_create_samples():
    """``create_samples`` of the official gen_samples.py when that module imports (it needs ``click``);
    else :func:`helpers.mesh.official_sample_points`, our re-implementation of the same points."""
    try:
        from gen_samples import create_samples  # type: ignore

        return create_samples, "gen_samples.create_samples"
    except ImportError:
        pass

    def create_samples(N=256, voxel_origin=(0, 0, 0), cube_length=2.0):
        points = torch.from_numpy(official_sample_points(N, cube_length))
        return points.unsqueeze(0), None, cube_length / (N - 1)

    return create_samples, "helpers.mesh.official_sample_points (gen_samples needs click)"


def official_ply_writer():
    """``shape_utils.convert_sdf_samples_to_ply`` (needs plyfile), else skimage + trimesh."""
    try:
        from shape_utils import convert_sdf_samples_to_ply  # type: ignore

        def write(volume, path, level):
            with contextlib.redirect_stdout(io.StringIO()):  # it prints "wrote to ..."
                convert_sdf_samples_to_ply(volume, [0, 0, 0], 1, str(path), level=level)

        return write, "shape_utils.convert_sdf_samples_to_ply"
    except ImportError as exc:
        import skimage.measure
        import trimesh

        def write(volume, path, level):
            verts, faces, _, _ = skimage.measure.marching_cubes(volume, level=level, spacing=[1] * 3)
            trimesh.Trimesh(verts, faces, process=False).export(str(path), encoding="binary")

        return write, (f"FALLBACK skimage marching cubes + trimesh PLY ({exc}); the official writer "
                       "(Python loops over vertices and faces) would be slower")


class OfficialPath:
    """gen_samples.py's per-seed steps with an official TriPlaneGenerator."""

    def __init__(self, G, psi: float, c_cond: torch.Tensor, render_cameras: dict[int, torch.Tensor],
                 device: torch.device) -> None:
        self.G, self.psi, self.c_cond, self.cams, self.device = G, psi, c_cond, render_cameras, device
        self.create_samples, self.create_samples_source = official_create_samples()
        self.write_ply, self.ply_source = official_ply_writer()

    def z(self, seed: int) -> torch.Tensor:
        return torch.from_numpy(np.random.RandomState(seed).randn(1, self.G.z_dim)).to(self.device)

    def render(self, seed: int) -> dict:
        c = self.cams[seed]
        ws = self.G.mapping(self.z(seed), self.c_cond, truncation_psi=self.psi)
        torch.manual_seed(seed)  # the renderer's draws: same stream as ours' per-seed torch.Generator
        out = self.G.synthesis(ws, c, noise_mode="const")
        out["ws"] = ws
        return out

    def sample(self, seed: int, outdir: Path) -> None:
        from PIL import Image

        out = self.render(seed)
        img = (out["image"].permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
        Image.fromarray(img[0].cpu().numpy(), "RGB").save(outdir / f"seed{seed:04d}.png")
        depth = out["image_depth"][0, 0]
        near_bright = (depth.max() - depth) / (depth.max() - depth.min()).clamp_min(1e-12)
        Image.fromarray((near_bright * 255).round().to(torch.uint8).cpu().numpy()).save(
            outdir / f"depth{seed:04d}.png")
        np.save(outdir / f"camera{seed:04d}.npy", self.cams[seed].cpu().numpy())
        np.save(outdir / f"latent{seed:04d}.npy", out["ws"].cpu().numpy())

    def dataset(self, seeds, outdir: Path) -> None:
        outdir.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            for seed in seeds:
                self.sample(seed, outdir)

    def mesh(self, seed: int, resolution: int, level: float, path: Path) -> None:
        G, device = self.G, self.device
        z = self.z(seed)
        samples, _, _ = self.create_samples(N=resolution, voxel_origin=[0, 0, 0],
                                            cube_length=G.rendering_kwargs["box_warp"] * 1)
        samples = samples.to(device)
        sigmas = torch.zeros((samples.shape[0], samples.shape[1], 1), device=device)
        dirs = torch.zeros((samples.shape[0], OFFICIAL_MAX_BATCH, 3), device=device)
        dirs[..., -1] = -1
        head = 0
        with torch.no_grad():
            while head < samples.shape[1]:
                torch.manual_seed(0)
                sigma = G.sample(samples[:, head:head + OFFICIAL_MAX_BATCH], dirs[:, :samples.shape[1] - head], z,
                                 self.c_cond, truncation_psi=self.psi, noise_mode="const")["sigma"]
                sigmas[:, head:head + OFFICIAL_MAX_BATCH] = sigma
                head += OFFICIAL_MAX_BATCH
        sigmas = sigmas.reshape((resolution, resolution, resolution)).cpu().numpy()
        sigmas = np.flip(sigmas, 0)
        pad = int(30 * resolution / 256)
        sigmas[:pad] = -1000
        sigmas[-pad:] = -1000
        sigmas[:, :pad] = -1000
        sigmas[:, -pad:] = -1000
        sigmas[:, :, :pad] = -1000
        sigmas[:, :, -pad:] = -1000
        self.write_ply(np.transpose(sigmas, (2, 1, 0)), path, level)


# --------------------------------------------------------------------------------------------
# Ours
# --------------------------------------------------------------------------------------------


def ours_config(out: Path, seeds, settings: SampleSettings, args) -> GenerateConfig:
    return GenerateConfig(out=out, seeds=tuple(seeds), checkpoint="tiny-random", settings=settings,
                          batch_size=args.batch_size, device=args.device, workers=args.workers, progress=False,
                          check_disk=False)


def quiet(*_args, **_kwargs) -> None:
    pass


def auto_level(G: Generator, planes: torch.Tensor, resolution: int) -> float:
    """Median σ inside the padded box (64³ probe), unless σ reaches EG3D's level 10."""
    n = 64
    sigma = G.sample_density(planes, torch.from_numpy(lattice_points(n, G.config.rendering.box_warp)).to(G.device),
                             with_features=False)["sigma"][0, :, 0].float().cpu().numpy().reshape(n, n, n)
    pad = official_pad_width(n)
    inner = sigma[pad:-pad, pad:-pad, pad:-pad]
    if inner.min() < 10.0 < inner.max():
        return 10.0
    return round(float(np.median(inner)), 4)


def breakdown(G: Generator, settings: SampleSettings, seeds, args, tmp: Path, device: torch.device,
              mesh_level: float | None) -> None:
    """Where ours spends the time of one batch: each stage alone, sequential (no overlap), best of
    ``--breakdown-repeats`` calls (the least disturbed by other jobs)."""
    seeds = tuple(seeds[:args.batch_size])
    n = len(seeds)
    reps = max(1, args.breakdown_repeats)

    def best(fn):
        result = {}
        dt = min(timed(lambda: result.__setitem__("value", fn()), device) for _ in range(reps))
        return dt, result["value"]

    t: dict[str, float] = {}
    with torch.inference_mode():
        cams, _ = settings.viewpoints.cameras(list(seeds))
        cams = cams.to(device)
        cond = cameras.conditioning_camera(n, device=device)
        z = latent_z(seeds, G.config.z_dim).to(device)
        t["mapping"], ws = best(lambda: G.mapping(z, cond, truncation_psi=settings.truncation_psi))
        t["backbone (tri-planes)"], planes = best(lambda: G.planes(ws))
        draws = render_draws(G, seeds)
        render_sr, out = best(lambda: G.synthesize(ws, cams, planes=planes, draws=draws))
        t["super-resolution"], _ = best(lambda: G.superresolution(out["image_raw"], out["features"], ws))
        t["volume rendering (+ rays, depth_z)"] = render_sr - t["super-resolution"]
        renderer = SampleRenderer(G, settings)
        t["= SampleRenderer.render() of the batch (all of the above)"], rendered = best(lambda: renderer.render(seeds))
        depth_range = settings.depth_range or default_depth_range(G.config, settings.viewpoints)
        writer = SampleWriter(tmp / "breakdown", settings, depth_range, renderer)
        t["SampleWriter.write (5 files per sample; threads in generate)"], _ = best(
            lambda: [writer.write(s) for s in rendered])
    print(f"breakdown of ours, one batch of {n} (each stage alone, best of {reps}, s per batch):")
    for k, v in t.items():
        print(f"  {k:<62s} {v:7.3f}  ({v / n:.3f} per sample)")
    if mesh_level is None:
        return
    mesh = MeshSettings(resolution=args.mesh_resolution, level=mesh_level)
    renderer = SampleRenderer(G, SampleSettings(mesh=mesh))
    renderer.lattice()
    planes = planes[:1]
    m: dict[str, float] = {}
    with torch.inference_mode():
        m["density on the lattice (cached planes)"], density = best(lambda: renderer.density(planes))
        grid = DensityGrid.from_values(density, mesh.resolution, box_size=float(G.config.rendering.box_warp))
        m["marching cubes (+ padding)"], mesh_obj = best(lambda: grid.to_mesh(level=mesh.level))
        m["vertex colours"], colors = best(lambda: renderer.vertex_colors(planes, mesh_obj.vertices))
        coloured = dataclasses.replace(mesh_obj, vertex_colors=colors)
        m["PLY write"], _ = best(lambda: save_mesh(coloured, tmp / "breakdown" / "mesh.ply"))
    print(f"breakdown of ours, one {mesh.resolution}³ mesh ({mesh_obj.num_vertices} vertices, "
          f"{mesh_obj.num_faces} faces; best of {reps}, s):")
    for k, v in m.items():
        print(f"  {k:<62s} {v:7.3f}")


# --------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official-src", help="local checkout of NVlabs/eg3d to compare against")
    ap.add_argument("--arch", choices=["ffhq512-128", "tiny"], default="ffhq512-128")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--samples", type=int, default=4, help="seeds per dataset run (default: %(default)s)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=1,
                    help="ours: seeds per batch (default 1, generate's CPU default; official: 1, as gen_samples)")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                    help="ours: autocast precision of the render (official: float32)")
    ap.add_argument("--workers", type=int, default=GenerateConfig(out=Path("."), seeds=(0,)).workers,
                    help="ours: file-writing threads (default: %(default)s)")
    ap.add_argument("--mesh-resolution", type=int, default=256)
    ap.add_argument("--mesh-level", default="auto",
                    help="iso-level on σ for both sides; auto: 10 if σ reaches it, else the median σ")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--skip-mesh", action="store_true")
    ap.add_argument("--no-breakdown", dest="breakdown", action="store_false", help="skip the timer breakdown of ours")
    ap.add_argument("--breakdown-repeats", type=int, default=2)
    ap.add_argument("--tmp", default=None, help="scratch folder (default: system temp)")
    add_allocator_option(ap)
    args = ap.parse_args()
    malloc = apply_allocator_option(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    if args.arch == "tiny":
        config, init_kwargs = tiny_config(), None
    else:
        config, init_kwargs = GeneratorConfig.ffhq512_128(), dict(_FFHQ512_128_INIT_KWARGS)
    G = Generator.from_config(config, seed=0).to(device).eval()
    official_G = None
    if args.official_src:
        if init_kwargs is None:
            raise SystemExit("--official-src needs --arch ffhq512-128 (the tiny head is narrower than official)")
        official_G = load_official(args.official_src, init_kwargs, G.state_dict(), device)
        # A fresh TriPlaneGenerator renders at 64²; the ffhq512-128 pickle carries 128 (gen_samples uses that).
        official_G.neural_rendering_resolution = config.neural_rendering_resolution

    settings = SampleSettings(precision=args.precision)  # ψ 0.7 on all ws, frontal conditioning, default mix
    seeds = list(range(args.first_seed, args.first_seed + args.samples))
    cams, views = settings.viewpoints.cameras(seeds)
    render_cams = {s: cams[i:i + 1].to(device) for i, s in enumerate(seeds)}
    c_cond = cameras.conditioning_camera(1, device=device)
    assert torch.allclose(c_cond, frontal_camera(1, device), atol=1e-6), "conditioning camera is not frontal"
    official = OfficialPath(official_G, settings.truncation_psi, c_cond, render_cams, device) if official_G else None

    print(f"machine: {machine_text([device])}, device {device}; {malloc}; load {loadavg():.2f}")
    print(f"arch {args.arch}, image {config.img_resolution}², neural {config.neural_rendering_resolution}², "
          f"{config.rendering.depth_resolution}+{config.rendering.depth_resolution_importance} samples/ray; "
          f"{args.samples} seeds {seeds[0]}..{seeds[-1]} "
          f"({', '.join(sorted({v.category for v in views}))}); ours batch {args.batch_size} {args.precision}, "
          f"{args.workers} writer threads; official batch 1")
    if official is not None and not args.skip_mesh:
        print(f"official mesh: {official.create_samples_source}; {official.ply_source}")

    tmp_ctx = tempfile.TemporaryDirectory(prefix="generate_speed-", dir=args.tmp)
    tmp = Path(tmp_ctx.name)
    times: dict[str, list[float]] = {"ours": [], "official": [], "ours_mesh": [], "official_mesh": []}
    loads: list[float] = [loadavg()]

    def run_timed(key: str, fn) -> None:
        dt = timed(fn, device)
        times[key].append(dt)
        loads.append(loadavg())
        print(f"  {key:<14s} {dt:8.2f} s   (load {loads[-1]:.2f})", flush=True)

    # Warm-up (ours at the batch size, official at batch 1) + sanity check: each model's own
    # mapping, identical draws; seed s0 compared.
    s0 = seeds[0]
    first = seeds[:args.batch_size]
    with torch.inference_mode():
        z = latent_z(first, config.z_dim).to(device)
        ws = G.mapping(z, c_cond.expand(len(first), -1), truncation_psi=settings.truncation_psi)
        ours_out = G.synthesize(ws, cams[:len(first)].to(device), draws=render_draws(G, first))
        planes0 = ours_out["planes"][:1]
        if official is not None:
            off_out = official.render(s0)
            print(f"sanity (seed {s0}, same draws, ours at batch {len(first)}): max |ws ours - official| = "
                  f"{(ws[:1] - off_out['ws']).abs().max().item():.2e}, max |image| = "
                  f"{(ours_out['image'][:1] - off_out['image']).abs().max().item():.2e}, max |depth along ray| = "
                  f"{(ours_out['depth_ray'][:1] - off_out['image_depth']).abs().max().item():.2e}")
        del ours_out

    print(f"dataset runs ({args.samples} samples each), interleaved:")
    for r in range(args.repeats):
        ours_dir, off_dir = tmp / f"ours-{r}", tmp / f"official-{r}"
        run_timed("ours", lambda: generate(ours_config(ours_dir, seeds, settings, args), generator=G, log=quiet))
        if official is not None:
            run_timed("official", lambda: official.dataset(seeds, off_dir))
        if r == 0 and official is not None:
            from PIL import Image

            diffs, latent_diffs = [], []
            for s in seeds:
                a = np.asarray(Image.open(ours_dir / "images" / f"{sample_id(s)}.png"), dtype=np.int16)
                b = np.asarray(Image.open(off_dir / f"seed{s:04d}.png"), dtype=np.int16)
                diffs.append(np.abs(a - b))
                w_ours = np.load(ours_dir / "latents" / f"{sample_id(s)}.npy")
                w_off = np.load(off_dir / f"latent{s:04d}.npy")[0]
                latent_diffs.append(np.abs(w_off - (w_ours if w_ours.ndim == 2 else w_ours[None])).max())
            d = np.stack(diffs)
            print(f"  written PNGs, ours (batch {args.batch_size}) vs official (batch 1): max |Δ| = {d.max()} "
                  f"levels, {100 * (d > 0).mean():.3f}% of values differ; max |Δ latent| = {max(latent_diffs):.2e}")
        if r > 0:
            shutil.rmtree(ours_dir, ignore_errors=True)
            shutil.rmtree(off_dir, ignore_errors=True)

    mesh_level = None
    if not args.skip_mesh:
        mesh_level = auto_level(G, planes0, args.mesh_resolution) if args.mesh_level == "auto" \
            else float(args.mesh_level)
        print(f"meshes ({args.mesh_resolution}³, seed {s0}, level {mesh_level}), interleaved:")
        mesh_settings = SampleSettings(mesh=MeshSettings(resolution=args.mesh_resolution, level=mesh_level))
        depth_range = settings.depth_range or default_depth_range(config, settings.viewpoints)
        renderer = SampleRenderer(G, mesh_settings)
        plain = SampleRenderer(G, settings).render([s0])[0]
        planes = planes0[:1]
        renderer.lattice()  # built once per run (warm-up, as imports below)
        import skimage.measure  # noqa: F401
        import trimesh  # noqa: F401
        for r in range(args.repeats):
            mesh_dir = tmp / f"mesh-{r}"
            writer_mesh = SampleWriter(mesh_dir / "ours", mesh_settings, depth_range, renderer)
            writer_plain = SampleWriter(mesh_dir / "ours-plain", settings, depth_range, renderer)

            def ours_mesh() -> float:
                with torch.inference_mode():
                    t0 = time.perf_counter()
                    density = renderer.density(planes)
                    with_mesh = dataclasses.replace(plain, density=density, planes=planes)
                    writer_mesh.write(with_mesh)
                    t_mesh = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    writer_plain.write(plain)
                    return t_mesh - (time.perf_counter() - t0)

            dt = ours_mesh()
            times["ours_mesh"].append(dt)
            loads.append(loadavg())
            print(f"  {'ours_mesh':<14s} {dt:8.2f} s   (load {loads[-1]:.2f})", flush=True)
            if official is not None:
                (mesh_dir / "official").mkdir(parents=True, exist_ok=True)
                run_timed("official_mesh", lambda: official.mesh(s0, args.mesh_resolution, mesh_level,
                                                                 mesh_dir / "official" / f"seed{s0:04d}.ply"))
            if r == 0:
                _compare_meshes(mesh_dir, s0, official is not None)
            shutil.rmtree(mesh_dir, ignore_errors=True)

    if args.breakdown:
        breakdown(G, settings, seeds, args, tmp, device, mesh_level)

    med = {k: statistics.median(v) for k, v in times.items() if v}
    n = args.samples
    print("\nresults (medians):")
    print(f"ours:     {n / med['ours']:.3f} samples/s ({med['ours'] / n:.2f} s per sample; "
          f"image + depth + mask + camera + latent)"
          + (f", {med['ours_mesh']:.2f} s per {args.mesh_resolution}³ mesh" if "ours_mesh" in med else ""))
    if official is not None:
        print(f"official: {n / med['official']:.3f} samples/s ({med['official'] / n:.2f} s per sample; "
              f"image + depth + camera + latent)"
              + (f", {med['official_mesh']:.2f} s per {args.mesh_resolution}³ mesh" if "official_mesh" in med else ""))
        print(f"speed-up: samples x{med['official'] / med['ours']:.2f}"
              + (f", meshes x{med['official_mesh'] / med['ours_mesh']:.2f}" if "official_mesh" in med else ""))
        for what, a, b in (("samples", "ours", "official"), ("meshes", "ours_mesh", "official_mesh")):
            if times[a] and times[b]:
                print(f"  {what}: {paired_ratios(times[a], times[b])}")
    print(f"load average (1 min) during the run: {min(loads):.2f} .. {max(loads):.2f}")
    print("raw timings (s):", {k: [round(t, 2) for t in v] for k, v in times.items() if v})
    tmp_ctx.cleanup()


def _compare_meshes(mesh_dir: Path, seed: int, with_official: bool) -> None:
    from helpers.mesh import load_mesh

    ours = load_mesh(mesh_dir / "ours" / "meshes" / f"{sample_id(seed)}.ply", allow_empty=True)
    text = f"  mesh sizes: ours {ours.num_vertices} vertices / {ours.num_faces} faces"
    if with_official:
        official = load_mesh(mesh_dir / "official" / f"seed{seed:04d}.ply", allow_empty=True)
        text += f", official {official.num_vertices} / {official.num_faces}"
    print(text)


if __name__ == "__main__":
    main()
