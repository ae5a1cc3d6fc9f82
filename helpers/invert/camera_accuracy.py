"""Accuracy of the landmark camera fit on synthetic landmarks: ``python -m helpers.invert.camera_accuracy``.

Landmarks of the 3D template (:mod:`helpers.invert.landmark_template`) are projected from known EG3D cameras,
perturbed (template scale, image scale and offset, pixel noise, optionally per-point shape noise) and fitted
with :func:`helpers.invert.camera_fit.estimate_camera`; the errors in yaw and elevation are tabulated (the table in
:mod:`helpers.invert.camera_fit`'s docstring comes from here).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from helpers.base.cameras import camera_from_angles, elevation_to_pitch, project_points
from helpers.invert import landmark_template as lt
from helpers.invert.camera_fit import CameraFitConfig, estimate_camera

__all__ = ["AccuracyRow", "accuracy_poses", "format_accuracy", "measure_accuracy", "synthetic_landmarks"]


def synthetic_landmarks(
    yaw: float,
    pitch: float,
    roll: float = 0.0,
    *,
    rng: np.random.Generator | None = None,
    noise_px: float = 0.0,
    template_scale: float = 1.0,
    image_scale: float = 1.0,
    image_offset: Sequence[float] = (0.0, 0.0),
    shape_noise: float = 0.0,
    image_size: int = 512,
) -> np.ndarray:
    """(68, 2) landmarks of the template seen by the EG3D camera (yaw, pitch, roll) (radians, orbit convention).

    The template is scaled by ``template_scale`` about its centroid (a bigger or smaller head) and optionally
    perturbed per point (``shape_noise``, world units, Gaussian); the projection is scaled by ``image_scale``
    about the image centre and shifted by ``image_offset`` (pixels), and Gaussian noise of ``noise_px`` pixels
    per coordinate is added. For tests and :func:`measure_accuracy`.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    template = lt.landmark_template()
    centroid = template.mean(0)
    points = (template - centroid) * template_scale + centroid
    if shape_noise:
        points = points + rng.normal(0.0, shape_noise, points.shape)
    camera = camera_from_angles(yaw, pitch, roll, dtype=torch.float64).numpy()
    c0 = (image_size - 1) / 2.0
    lm = (project_points(points, camera, image_size) - c0) * image_scale + c0 + np.asarray(image_offset)
    if noise_px:
        lm = lm + rng.normal(0.0, noise_px, lm.shape)
    return lm


@dataclass(frozen=True)
class AccuracyRow:
    """Errors (degrees) of :func:`estimate_camera` on synthetic landmarks at one noise level."""

    noise_px: float
    count: int
    yaw_max: float
    yaw_mean: float
    elevation_max: float
    elevation_mean: float
    pitch_max: float
    pitch_mean: float
    ms_per_fit: float
    errors: np.ndarray = field(repr=False)  # (count, 3): |Δyaw|, |Δelevation|, |Δpitch parameter| in degrees


def accuracy_poses(n_random: int = 30, seed: int = 0, limit_deg: float = 45.0,
                   max_roll_deg: float = 10.0) -> np.ndarray:
    """(N, 3) test poses [yaw, elevation, roll] in degrees: a 7 × 7 yaw × elevation grid over ±``limit_deg``
    (roll 0) and ``n_random`` random poses (roll within ±``max_roll_deg``)."""
    values = np.linspace(-limit_deg, limit_deg, 7)
    grid = np.stack(np.meshgrid(values, values, indexing="ij"), -1).reshape(-1, 2)
    grid = np.concatenate([grid, np.zeros((len(grid), 1))], 1)
    rng = np.random.default_rng(seed)
    rand = np.stack([rng.uniform(-limit_deg, limit_deg, n_random), rng.uniform(-limit_deg, limit_deg, n_random),
                     rng.uniform(-max_roll_deg, max_roll_deg, n_random)], 1)
    return np.concatenate([grid, rand])


def measure_accuracy(
    noise_levels: Sequence[float] = (0.0, 1.0, 2.0, 3.0),
    *,
    poses_deg: np.ndarray | None = None,
    seed: int = 0,
    shape_noise: float = 0.0,
    config: CameraFitConfig = CameraFitConfig(),
    image_size: int = 512,
) -> list[AccuracyRow]:
    """Round-trip accuracy: fit cameras to synthetic landmarks from known poses, per noise level (pixels).

    Each pose (``poses_deg``, default :func:`accuracy_poses`) gets a random template scale (0.9–1.1), image
    scale (0.95–1.05), image offset (±10 px) and noise of σ pixels. ``shape_noise`` (world units) perturbs the
    template's points to mimic a face that differs from the template (1 mm ≈ 0.0025 world units).
    """
    poses = accuracy_poses(seed=seed) if poses_deg is None else np.asarray(poses_deg, dtype=np.float64)
    rows = []
    for noise in noise_levels:
        rng = np.random.default_rng([seed, round(noise * 1000)])
        errors = []
        elapsed = 0.0
        for yaw_deg, elev_deg, roll_deg in poses:
            yaw, elevation = math.radians(yaw_deg), math.radians(elev_deg)
            pitch = float(elevation_to_pitch(elevation))
            lm = synthetic_landmarks(
                yaw, pitch, math.radians(roll_deg), rng=rng, noise_px=noise, template_scale=rng.uniform(0.9, 1.1),
                image_scale=rng.uniform(0.95, 1.05), image_offset=rng.uniform(-10, 10, 2), shape_noise=shape_noise,
                image_size=image_size)
            start = time.perf_counter()
            est = estimate_camera(lm, image_size, config)
            elapsed += time.perf_counter() - start
            errors.append([abs(est.yaw_deg - yaw_deg), abs(est.elevation_deg - elev_deg),
                           abs(math.degrees(est.pitch - pitch))])
        e = np.array(errors)
        rows.append(AccuracyRow(float(noise), len(e), *(float(v) for v in (e[:, 0].max(), e[:, 0].mean(),
                                e[:, 1].max(), e[:, 1].mean(), e[:, 2].max(), e[:, 2].mean())),
                                ms_per_fit=1000 * elapsed / len(e), errors=e))
    return rows


def format_accuracy(rows: Sequence[AccuracyRow]) -> str:
    """A plain-text table of :func:`measure_accuracy` rows (degrees)."""
    lines = ["noise px | yaw max / mean | elevation max / mean | pitch param max / mean | ms/fit"]
    for r in rows:
        lines.append(f"{r.noise_px:8.1f} | {r.yaw_max:5.2f} / {r.yaw_mean:4.2f}  | {r.elevation_max:5.2f} / "
                     f"{r.elevation_mean:4.2f}        | {r.pitch_max:5.2f} / {r.pitch_mean:4.2f}          | "
                     f"{r.ms_per_fit:5.1f}")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m helpers.invert.camera_accuracy: print the accuracy table
    print(format_accuracy(measure_accuracy()))
    mismatch = 2.0 / lt.template_info().mm_per_unit
    print(f"with 2 mm template mismatch per point ({mismatch:.4f} world units), 1 px noise:")
    print(format_accuracy(measure_accuracy((1.0,), shape_noise=mismatch)))
