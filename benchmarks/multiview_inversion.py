"""One face from 1, 2 and 4 photos: how much better the shape gets with more views (invert --same-person).

Synthetic identities with known geometry: each seed's face (``gen_samples.py``'s z, ψ 0.7) is rendered from four
cameras (yaw 0, +0.5, −0.5, +0.25 rad), then inverted from the first view, the first two, and all four
(:func:`helpers.invert.same_person.invert_views`, one pivot and one tuned generator). The inverted face and the true
one are rendered from two held-out cameras (yaw −0.25 and +0.7 rad, pitch 0.1); printed: the mean absolute z-depth
error over the pixels where both opacities reach ``--min-opacity`` (millimetres at 395 mm per world unit; the tiny
random generator is half transparent everywhere, hence 0.3 for it) and the image PSNR, averaged over seeds.

    python benchmarks/multiview_inversion.py                                   # tiny random generator, CPU
    python benchmarks/multiview_inversion.py --checkpoint ffhq512-128 --preset default --seeds 0-9   # on a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from helpers.base import cameras
from helpers.eg3d import EG3DSubject, load
from helpers.generation.generate_dataset import parse_seeds
from helpers.invert import pti
from helpers.invert.inversion import InversionConfig
from helpers.invert.lpips_weights import load_lpips_nets
from helpers.invert.same_person import invert_views

VIEW_YAWS = (0.0, 0.5, -0.5, 0.25)
HELD_OUT = ((-0.25, 0.1), (0.7, 0.1))
MM_PER_UNIT = 395.1256


def depth_and_opacity(face: EG3DSubject, camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face's unmasked camera z-depth and opacity from ``camera`` (the renderer's draws seeded as render_maps)."""
    G = face.generator
    c = torch.as_tensor(camera, dtype=torch.float32, device=face.ws.device).reshape(1, -1)
    with torch.inference_mode():
        out = G.synthesize(face.ws, c, planes=face.planes, super_resolution=False,
                           draws=G.draws(1, generator=torch.Generator().manual_seed(0)))
    return out["depth_z"][0, 0].float().cpu().numpy(), out["opacity"][0, 0].float().cpu().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="tiny-random")
    parser.add_argument("--preset", default="smoke", choices=sorted(pti.PRESETS))
    parser.add_argument("--tuning-steps", type=int, default=None)
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--counts", default="1,2,4", help="numbers of photos to invert from (of the 4 views)")
    parser.add_argument("--lpips", default="random", help="random (offline) or pretrained")
    parser.add_argument("--min-opacity", type=float, default=None,
                        help="pixels compared (default: 0.5, 0.3 for tiny-random)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    G = load(args.checkpoint, device=args.device)
    min_opacity = args.min_opacity if args.min_opacity is not None else (0.3 if "tiny" in args.checkpoint else 0.5)
    config = pti.PTIConfig.preset(args.preset)
    if args.tuning_steps is not None:
        config = dataclasses.replace(config, tuning=dataclasses.replace(config.tuning, steps=args.tuning_steps))
    lpips = load_lpips_nets(args.lpips, config.lpips_nets, device=G.device)
    views = np.stack([cameras.camera_vector(yaw, 0.0)[0].numpy() for yaw in VIEW_YAWS])
    held_out = [cameras.camera_vector(yaw, pitch)[0].numpy() for yaw, pitch in HELD_OUT]
    rows: dict[int, list[tuple[float, float, float]]] = {int(n): [] for n in args.counts.split(",")}
    for seed in parse_seeds(args.seeds):
        truth = EG3DSubject.from_seed(args.checkpoint, seed, 0.7, device=args.device)
        targets = np.stack([truth.render_maps(c)["image"] for c in views])
        for count in rows:
            began = time.perf_counter()
            result = invert_views(targets[:count], views[:count], G, lpips, InversionConfig(pti=config))
            seconds = time.perf_counter() - began
            face = result.subject()
            errors, psnrs = [], []
            for camera in held_out:
                (want, want_o), (got, got_o) = depth_and_opacity(truth, camera), depth_and_opacity(face, camera)
                both = (want_o >= min_opacity) & (got_o >= min_opacity)
                errors.append(float(np.abs(want[both] - got[both]).mean()) * MM_PER_UNIT)
                psnrs.append(pti.psnr(face.render_maps(camera)["image"], truth.render_maps(camera)["image"]))
            rows[count].append((float(np.mean(errors)), float(np.mean(psnrs)), seconds))
    print(f"{args.checkpoint}, preset {args.preset}, seeds {args.seeds}, held-out yaws "
          f"{[y for y, _ in HELD_OUT]} rad, pixels with opacity >= {min_opacity}\n")
    print("| photos | depth error mm (held-out views) | PSNR dB (held-out views) | seconds per inversion |")
    print("|---|---|---|---|")
    for count, values in rows.items():
        error, psnr, seconds = np.mean(values, axis=0)
        print(f"| {count} | {error:.2f} | {psnr:.2f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
