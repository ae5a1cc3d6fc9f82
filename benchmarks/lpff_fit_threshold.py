"""What RMS landmark distance the camera fit leaves on faces it should keep and on landmarks it should reject.

``python -m helpers process-lpff`` rejects, and ``invert`` / ``reconstruct`` flag (helpers.invert.quality), a face whose
landmarks lie more than 20 RMS pixels of the 512² crop from the fitted landmark template. This script prints the figures that threshold rests on:

- the template's own landmarks projected through random EG3D cameras (yaw, elevation, roll, head scale), with pixel
  noise and per-point shape noise (world units: a real face is not the template), fitted back: percentiles of the
  RMS distance;
- the astronaut (``skimage.data.astronaut``, dlib landmarks): a real face;
- landmarks that are no face: the astronaut's with 15 px of noise, and shuffled.

    python benchmarks/lpff_fit_threshold.py [--poses 60] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
from skimage import data

from helpers.base.cameras import elevation_to_pitch
from helpers.invert import align_face, estimate_camera
from helpers.invert.camera_accuracy import synthetic_landmarks
from helpers.invert.quality import DEFAULT_MAX_FIT_PX

CASES = ((0.0, 0.0), (2.0, 0.0), (3.0, 0.0), (2.0, 0.01), (3.0, 0.02))  # (pixel noise px, shape noise)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poses", type=int, default=60, help="random cameras per case (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"threshold (--max-fit-px): {DEFAULT_MAX_FIT_PX:g} px RMS in the 512² crop\n")
    print("| pixel noise px | shape noise | RMS px: median | 95% | 99% | max |")
    print("|---|---|---|---|---|---|")
    for noise, shape in CASES:
        rms = []
        for _ in range(args.poses):
            yaw, elevation, roll = rng.uniform(-1.2, 1.2), rng.uniform(-0.4, 0.4), rng.uniform(-0.2, 0.2)
            lm = synthetic_landmarks(yaw, float(elevation_to_pitch(elevation)), roll, rng=rng, noise_px=noise,
                                     shape_noise=shape, template_scale=rng.uniform(0.9, 1.1))
            rms.append(estimate_camera(lm, 512).rms_px)
        p50, p95, p99, top = np.percentile(rms, [50, 95, 99, 100])
        print(f"| {noise:g} | {shape:g} | {p50:.2f} | {p95:.2f} | {p99:.2f} | {top:.2f} |")
    face = align_face(data.astronaut()).landmarks
    print(f"\nastronaut (dlib landmarks): {estimate_camera(face, 512).rms_px:.1f} px")
    noisy = face + rng.normal(0.0, 15.0, face.shape)
    print(f"astronaut with 15 px noise: {estimate_camera(noisy, 512).rms_px:.1f} px")
    shuffled = face[rng.permutation(len(face))]
    print(f"astronaut shuffled: {estimate_camera(shuffled, 512).rms_px:.1f} px")


if __name__ == "__main__":
    main()
