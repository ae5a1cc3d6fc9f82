"""PTI inversion speed: seconds per photo for each stage of :mod:`helpers.invert`.

    python benchmarks/pti_speed.py --generator tiny-random                   # small test generator, CPU
    python benchmarks/pti_speed.py --generator ffhq512-128-random --steps 2  # full size, random weights
    python benchmarks/pti_speed.py --generator ffhq512-128 --device cuda --steps 20 --warmup 5  # GPU target
    python benchmarks/pti_speed.py --save-aligned crop.npz    # where dlib is: align once, save the crop and camera
    python benchmarks/pti_speed.py --aligned crop.npz ...     # where it is not (GPU lease): start from that crop

Stages, on ``skimage.data.astronaut()`` (the library's own code paths):

* **alignment**: :func:`helpers.invert.align.align_face` (dlib HOG detection, 68 landmarks, 512² crop); the
  first call also reads dlib's landmark model (printed as "cold", not counted); then the median of ``--repeats``;
* **camera fit**: :func:`helpers.invert.camera_fit.estimate_camera` on the crop's landmarks, median of ``--repeats``.
  ``--aligned FILE`` skips both (not timed: "n/a", left out of the total) and reads the crop and camera that
  ``--save-aligned FILE`` wrote on a machine with dlib: the landmark model (~100 MB) does not travel to a GPU lease;
* **projection** and **pivotal tuning**: one :func:`helpers.invert.inversion.invert_aligned` call with the preset's
  settings except the step counts, cut to ``--warmup`` + ``--steps`` per stage (tuning's early stop is switched off so
  that every step runs). Per-step times come from the ``on_step`` callback; the median of the steps after the warm-up
  is extrapolated to the preset's step count: total = set-up + median step × preset steps. Set-up is the work before
  the first step (projection: w statistics over the preset's ``w_avg_samples`` z, copy of the generator; tuning: copy
  of the generator). The preset's early stop of tuning at LPIPS ≤ 0.06 is not modelled: the tuning totals are upper
  bounds (the published recipe usually runs all 350 steps on real photos, but may stop sooner);
* **final renders / metrics**: what ``invert_aligned`` does after tuning (renders before / after tuning, PSNR, SSIM,
  LPIPS), measured as it runs (``Inversion.seconds["render"]``);
* **mesh**: ``Inversion.mesh(--mesh-resolution)`` of the tuned generator (σ on the lattice from the tri-planes
  ``invert_aligned`` already computed, + marching cubes). Random
  weights never reach EG3D's σ = 10, so when that level gives no surface it is timed again at the median σ (a
  face-sized surface, as ``benchmarks/generate_speed.py`` does; the first call's time is printed too).

LPIPS loading is excluded: ``load_lpips_nets("random", preset.lpips_nets)`` (the preset's networks, VGG16 and
AlexNet, with random weights: the same cost as the pretrained ones). ``--generator``: ``tiny-random``,
``ffhq512-128-random`` (the full-size ffhq512-128 architecture with random weights built offline,
``Generator.from_config(GeneratorConfig.ffhq512_128(), seed=0)``: a real checkpoint costs the same), or any name /
path :func:`helpers.eg3d.load` accepts. ``--precision bf16`` autocasts the renders and LPIPS (the recipe is float32).
Absolute times only hold on the machine they were measured on; the script prints the load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import (  # noqa: E402 (this folder: run as a script)
    add_allocator_option,
    apply_allocator_option,
    loadavg,
    machine_text,
    timed_call,
)

from helpers import eg3d
from helpers.invert import pti
from helpers.invert.align import align_face
from helpers.invert.camera_fit import estimate_camera
from helpers.invert.inversion import InversionConfig, invert_aligned
from helpers.invert.lpips_weights import load_lpips_nets


def build_generator(name: str, device: torch.device) -> torch.nn.Module:
    if name == "ffhq512-128-random":
        return eg3d.Generator.from_config(eg3d.GeneratorConfig.ffhq512_128(), seed=0).eval().to(device)
    return eg3d.load(name, device=device)


def step_times(stamps: list[float], began: float, warmup: int) -> list[float]:
    """Seconds per step after the warm-up, from the stage's start and its callback times."""
    return np.diff([began, *stamps]).tolist()[warmup:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", default="tiny-random",
                    help="tiny-random, ffhq512-128-random, or a checkpoint name / path (default: %(default)s)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--preset", choices=("default", "fast"), default="default")
    ap.add_argument("--precision", choices=pti.PRECISION_CHOICES, default="fp32",
                    help="PTI precision: bf16 autocasts renders and LPIPS (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per stage (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed first steps per stage (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="timings of alignment / camera fit (median)")
    ap.add_argument("--mesh-resolution", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--save-aligned", metavar="FILE", help="align the photo, save crop + camera to FILE (.npz), exit")
    ap.add_argument("--aligned", metavar="FILE", help="start from the crop + camera of --save-aligned (no dlib needed)")
    add_allocator_option(ap)
    args = ap.parse_args()
    malloc = apply_allocator_option(args)
    if args.steps < 1 or args.warmup < 0:
        raise SystemExit("--steps must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no GPU (torch.cuda.is_available() is False)")
    loads = [loadavg()]
    print(f"machine: {machine_text([device])}; {malloc}; load {loads[0]:.2f}", flush=True)

    # Alignment and camera fit (CPU work in the library whatever the device).
    if args.aligned:
        with np.load(args.aligned) as saved:
            image, camera = saved["image"], saved["camera"]
        align_s = camera_s = float("nan")
        print(f"alignment and camera fit: not timed, crop {image.shape[0]}² and camera read from {args.aligned}",
              flush=True)
    else:
        from skimage.data import astronaut

        photo = astronaut()
        cold, aligned = timed_call(lambda: align_face(photo), torch.device("cpu"))
        align_s = statistics.median(timed_call(lambda: align_face(photo), torch.device("cpu"))[0]
                                    for _ in range(args.repeats))
        size = aligned.image.shape[0]
        camera_s = statistics.median(timed_call(lambda: estimate_camera(aligned.landmarks, image_size=size),
                                           torch.device("cpu"))[0] for _ in range(args.repeats))
        image, camera = aligned.image, estimate_camera(aligned.landmarks, image_size=size).camera
        print(f"alignment {align_s:.3f} s (cold, with the dlib model read: {cold:.2f} s), camera fit {camera_s:.3f} s "
              f"(photo {photo.shape[1]}x{photo.shape[0]}, crop {size}², median of {args.repeats})", flush=True)
    if args.save_aligned:
        np.savez_compressed(args.save_aligned, image=image, camera=camera)
        print(f"wrote the crop and camera to {args.save_aligned}")
        return

    G = build_generator(args.generator, device)
    preset = pti.PTIConfig.preset(args.preset, precision=args.precision)
    lpips = load_lpips_nets("random", preset.lpips_nets, device=device)
    n = args.warmup + args.steps
    config = dataclasses.replace(
        preset, projection=dataclasses.replace(preset.projection, steps=n),
        tuning=dataclasses.replace(preset.tuning, steps=n, lpips_threshold=-1.0))  # every step runs
    params = sum(p.numel() for p in G.parameters())
    stages = (preset.projection, preset.tuning)
    print(f"generator {args.generator}: {params / 1e6:.1f}M parameters, neural rendering "
          f"{G.neural_rendering_resolution}², image {G.img_resolution}²; preset {args.preset}: "
          f"{preset.projection.steps} + {preset.tuning.steps} steps, w_avg_samples {preset.projection.w_avg_samples}, "
          f"LPIPS {' / '.join(f'{s.lpips_net} at {s.lpips_resolution or G.img_resolution}²' for s in stages)}, "
          f"ray samples × {' / '.join(str(s.ray_sample_mult) for s in stages)}; "
          f"timing {args.warmup} warm-up + {args.steps} steps "
          "per stage",
          flush=True)

    stamps: dict[str, list[float]] = {"projection": [], "tuning": []}
    logs: dict[str, list[pti.StepLog]] = {"projection": [], "tuning": []}

    def on_step(entry: pti.StepLog) -> None:
        stamps[entry.stage].append(time.perf_counter())
        logs[entry.stage].append(entry)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    called = time.perf_counter()
    inv = invert_aligned(image, camera, G, lpips, InversionConfig(pti=config), on_step=on_step)
    ended = time.perf_counter()
    loads.append(loadavg())
    proj_began = stamps["projection"][0] - logs["projection"][0].seconds
    tune_began = stamps["tuning"][0] - logs["tuning"][0].seconds
    proj_setup = proj_began - called
    tune_setup = tune_began - (proj_began + inv.projection.seconds)
    proj_steps = step_times(stamps["projection"], proj_began, args.warmup)
    tune_steps = step_times(stamps["tuning"], tune_began, args.warmup)
    render_s = inv.seconds["render"]
    peak = f", GPU peak {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if device.type == "cuda" else ""
    print(f"invert_aligned with {n} + {n} steps: {ended - called:.1f} s{peak}", flush=True)

    mesh_s, mesh = timed_call(lambda: inv.mesh(args.mesh_resolution), device)
    mesh_note = "σ = 10"
    if len(mesh.vertices) == 0:  # random weights: no σ = 10 surface; time a face-sized one at the median σ
        from helpers.mesh import lattice_points

        box = float(G.config.rendering.box_warp)
        points = torch.from_numpy(lattice_points(64, box_size=box)).to(device)
        with torch.inference_mode():
            sigma = inv.generator.sample_density(inv.subject().planes, points, with_features=False)["sigma"]
        level = float(sigma.float().median())
        first_s, (mesh_s, mesh) = mesh_s, timed_call(lambda: inv.mesh(args.mesh_resolution, level=level), device)
        mesh_note = f"median σ {level:.4g}; σ = 10 gave no surface with these weights, in {first_s:.2f} s"
    loads.append(loadavg())

    med_p, med_t = statistics.median(proj_steps), statistics.median(tune_steps)
    proj_total = proj_setup + med_p * preset.projection.steps
    tune_total = tune_setup + med_t * preset.tuning.steps
    image_total = np.nansum([align_s, camera_s]) + proj_total + tune_total + render_s  # NaN: --aligned, not timed

    def steps_text(values: list[float]) -> str:
        return ", ".join(f"{v:.3f}" for v in values)

    def cell(value: float, spec: str) -> str:
        return "n/a" if np.isnan(value) else format(value, spec)

    print(f"projection: set-up {proj_setup:.2f} s, {med_p:.3f} s per step (median; steps {steps_text(proj_steps)})")
    print(f"tuning:     set-up {tune_setup:.2f} s, {med_t:.3f} s per step (median; steps {steps_text(tune_steps)})")
    print(f"final renders + metrics {render_s:.2f} s; mesh {args.mesh_resolution}³ {mesh_s:.2f} s "
          f"({len(mesh.vertices):,} vertices at {mesh_note})")
    print(f"EXTRAPOLATED to the {args.preset} preset ({preset.projection.steps} + {preset.tuning.steps} steps): "
          f"projection {proj_total:.1f} s, tuning ≤ {tune_total:.1f} s (no early stop), "
          f"photo → inversion ≤ {image_total:.1f} s, + mesh {image_total + mesh_s:.1f} s")

    env = "".join(f"{k}={os.environ[k]} " for k in ("GLIBC_TUNABLES", "OMP_NUM_THREADS") if k in os.environ)
    command = env + "python benchmarks/pti_speed.py" + ("" if len(sys.argv) == 1 else " " + shlex.join(sys.argv[1:]))
    print(f"\n{machine_text([device])}, load {min(loads):.1f}–{max(loads):.1f} | {datetime.date.today().isoformat()} | "
          f"`{command}`\n")
    print("| generator | device | preset | align s | camera s | projection s/step (best) | projection total "
          "(extrapolated) | tuning s/step (best) | tuning total (extrapolated, upper bound) | renders + metrics s | "
          f"mesh {args.mesh_resolution}³ s | per photo (extrapolated) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.generator} | {device.type} | {args.preset} | {cell(align_s, '.2f')} | {cell(camera_s, '.3f')} | "
          f"{med_p:.3f} ({min(proj_steps):.3f}) | {proj_total:.0f} s ({preset.projection.steps} steps + "
          f"{proj_setup:.1f} s set-up) | {med_t:.3f} ({min(tune_steps):.3f}) | "
          f"{tune_total:.0f} s ({preset.tuning.steps} steps + {tune_setup:.1f} s set-up) | {render_s:.2f} | "
          f"{mesh_s:.2f} | {image_total:.0f} s ({image_total + mesh_s:.0f} s with mesh) |")


if __name__ == "__main__":
    main()
