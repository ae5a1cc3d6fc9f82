"""An EG3D camera for an aligned face photo, from its 68 landmarks (no 3D morphable model needed).

The 68 iBUG/dlib landmarks of an aligned photo (FFHQ/EG3D crop, pixel index coordinates) are matched to a fixed 3D
template of an average face (:mod:`helpers.invert.landmark_template`, EG3D world units and frame). The camera is
EG3D's orbit camera: ``helpers.base.cameras.orbit_pose(yaw, pitch)`` at radius 2.7 around the world origin looking at
the pivot (0, 0, 0.2), optionally rolled about its viewing axis, with the normalised pinhole intrinsics (focal
4.2647, principal point 0.5). A free 2D scale and offset absorb the face's size and position, so only the rotation
(yaw, elevation, roll) is estimated, by a robust fit of the landmark reprojection errors (pixels), bounded to
|yaw| ≤ 90° and |elevation| ≤ 60°.

Assumptions: EG3D's camera, the template's average proportions, a neutral closed-mouth expression, dlib-like
landmarks. On landmarks projected from known cameras (``python -m helpers.invert.camera_accuracy``) the yaw /
elevation errors are at most 0.37° / 0.36° with 1 px noise and 1.31° / 1.12° with 3 px; on real photos expect errors
of a few degrees, and compare with the ``dataset.json`` labels (:func:`camera_from_dataset_json`) where available.

Design notes: docs/design/invert.md (camera_fit): the method, the accuracy table, the frontal calibration.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from scipy.optimize import least_squares

from helpers.base.cameras import camera_from_angles, elevation_to_pitch, pitch_to_elevation, project_points
from helpers.datasets.ffhq_labels import FfhqLabels
from helpers.invert import ibug68 as ib
from helpers.invert import landmark_template as lt

__all__ = ["CameraEstimate", "CameraFitConfig", "camera_from_dataset_json", "estimate_camera"]

_T = TypeVar("_T", np.ndarray, torch.Tensor)


# --------------------------------------------------------------------------------------------
# Camera model
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Fit
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraFitConfig:
    """Settings of :func:`estimate_camera`.

    The camera is always EG3D's (radius, pivot and focal of :mod:`helpers.base.cameras`): the landmark template is
    placed for that camera, so another one would not match it.

    Attributes:
        fit_roll: estimate the roll about the viewing axis; otherwise roll = 0.
        jaw_weight: weight of the jaw contour (0–16): contour points slide along the silhouette.
        brow_weight, nose_weight, eye_weight, mouth_weight: weights of the other groups (expression moves
            brows and mouth).
        loss: ``scipy.optimize.least_squares`` loss ("soft_l1", "huber", "cauchy", "linear", …).
        loss_scale_px: residual (pixels, for a 512-pixel image; scaled with the image size) where the robust
            loss turns from quadratic to linear.
        max_yaw_deg, max_elevation_deg, max_roll_deg: bounds of the fit (degrees).
        grid_step_deg: step of the yaw × elevation initialisation grid (degrees).
    """

    fit_roll: bool = True
    jaw_weight: float = 0.25
    brow_weight: float = 1.0
    nose_weight: float = 1.0
    eye_weight: float = 1.0
    mouth_weight: float = 1.0
    loss: str = "soft_l1"
    loss_scale_px: float = 3.0
    max_yaw_deg: float = 90.0
    max_elevation_deg: float = 60.0
    max_roll_deg: float = 90.0
    grid_step_deg: float = 10.0

    def __post_init__(self) -> None:
        weights = (self.jaw_weight, self.brow_weight, self.nose_weight, self.eye_weight, self.mouth_weight)
        if min(weights) < 0 or max(weights) <= 0:
            raise ValueError(f"landmark weights must be >= 0 and not all zero, got {weights}")
        if not (0 < self.max_yaw_deg <= 90 and 0 < self.max_elevation_deg < 90 and 0 <= self.max_roll_deg <= 180):
            raise ValueError("bounds must satisfy 0 < max_yaw_deg <= 90, 0 < max_elevation_deg < 90, "
                             f"0 <= max_roll_deg <= 180; got {self}")
        if self.loss_scale_px <= 0 or self.grid_step_deg <= 0:
            raise ValueError(f"loss_scale_px and grid_step_deg must be > 0, got {self}")

    def weights(self) -> np.ndarray:
        """(68,) float64 per-landmark weights."""
        w = np.ones(68)
        for group, value in ((ib.JAW, self.jaw_weight), (ib.BROWS, self.brow_weight), (ib.NOSE, self.nose_weight),
                             (ib.EYES, self.eye_weight), (ib.MOUTH, self.mouth_weight)):
            w[list(group)] = value
        return w


@dataclass(frozen=True)
class CameraEstimate:
    """Result of :func:`estimate_camera`.

    Attributes:
        yaw: official orbit yaw (radians; positive = camera towards world +x, the subject's left).
        pitch: official orbit pitch parameter (radians-like, *not* an angle; positive = camera below the face).
        roll: camera roll about its viewing axis (radians; positive turns the image content counter-clockwise).
        camera: (25,) float32 EG3D camera vector: radius 2.7 from the origin, looking at the pivot, focal
            4.2647, principal point 0.5, with the roll applied (see :func:`camera_from_angles`).
        scale: 2D scale applied to the template's projection about the image centre (1 = the template's size).
        offset: (2,) 2D offset in pixels (x, y) applied after the scale.
        rms_px: root mean square of the landmark distances between fit and input (pixels, unweighted).
        residuals: (68, 2) fitted minus input landmark positions (pixels).
        fitted: (68, 2) fitted landmark positions (pixels).
        success: whether the least-squares solver converged.
        nfev: number of model evaluations of the solver.
    """

    yaw: float
    pitch: float
    roll: float
    camera: np.ndarray
    scale: float
    offset: np.ndarray
    rms_px: float
    residuals: np.ndarray
    fitted: np.ndarray
    success: bool = True
    nfev: int = 0

    @property
    def yaw_deg(self) -> float:
        """Yaw in degrees (the orbit yaw is a true azimuth)."""
        return math.degrees(self.yaw)

    @property
    def elevation_deg(self) -> float:
        """Camera elevation angle above the world origin, degrees (positive = camera above, looking down)."""
        return math.degrees(self.elevation)

    @property
    def elevation(self) -> float:
        """Camera elevation angle in radians (``sin(elevation) = −(2/π)·pitch``)."""
        return float(pitch_to_elevation(self.pitch))

    @property
    def roll_deg(self) -> float:
        """Roll in degrees."""
        return math.degrees(self.roll)


def _check_landmarks(landmarks: Any, image_size: int) -> np.ndarray:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size <= 0:
        raise ValueError(f"image_size must be a positive int (the aligned image's side in pixels), got {image_size!r}")
    if isinstance(landmarks, torch.Tensor):
        landmarks = landmarks.detach().cpu().numpy()
    lm = ib.as_landmarks(landmarks)
    if np.ptp(lm[:, 0]) < 1e-6 * image_size and np.ptp(lm[:, 1]) < 1e-6 * image_size:
        raise ValueError("degenerate landmarks: all 68 points coincide")
    return lm


class _Model:
    """Projection of the template for batches of (yaw, elevation, roll), in float64.

    Only yaw and elevation go through the torch camera builder (its cost is per call, not per pose); the roll
    is applied as the 2D rotation about the principal point that it is for square images with fx = fy and
    cx = cy = 0.5 (tests check this against :func:`camera_from_angles`).
    """

    def __init__(self, image_size: int) -> None:
        self.size = image_size
        self.center = (image_size - 1) / 2.0  # pixel index of the principal point
        self.template = lt.landmark_template()

    def project_orbit(self, yaw_elevation: np.ndarray) -> np.ndarray:
        """(B, 68, 2) projections (scale 1, offset 0, roll 0) for (B, 2) [yaw, elevation] in radians."""
        a = np.asarray(yaw_elevation, dtype=np.float64)
        pitch = np.asarray(elevation_to_pitch(a[:, 1]), dtype=np.float64)
        with torch.no_grad():
            cams = camera_from_angles(torch.from_numpy(a[:, 0]), torch.from_numpy(pitch))
        return project_points(self.template, cams.numpy(), self.size)

    def roll(self, proj: np.ndarray, roll: float) -> tuple[np.ndarray, np.ndarray]:
        """(rolled projections, their derivative in the roll) for a camera roll in radians."""
        cos, sin = math.cos(roll), math.sin(roll)
        d = proj - self.center
        rolled = np.stack([cos * d[..., 0] + sin * d[..., 1], cos * d[..., 1] - sin * d[..., 0]], -1)
        derivative = np.stack([rolled[..., 1], -rolled[..., 0]], -1)
        return rolled + self.center, derivative


def _similarity(proj: np.ndarray, target: np.ndarray, w: np.ndarray, rotate: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form weighted 2D similarity proj → target for a batch (B, 68, 2).

    Returns (complex factor s·e^{iφ} (B,), translation (B, 2), weighted squared error (B,)). y points down, so a
    positive φ turns the content clockwise as displayed. Without ``rotate``, φ = 0.
    """
    wn = w / w.sum()
    p = proj[..., 0] + 1j * proj[..., 1]
    q = target[:, 0] + 1j * target[:, 1]
    p_mean, q_mean = (p * wn).sum(-1), (q * wn).sum(-1)
    pc, qc = p - p_mean[:, None], q - q_mean
    pp = (wn * np.abs(pc) ** 2).sum(-1)
    pq = (wn * np.conj(pc) * qc).sum(-1)
    factor = pq / pp if rotate else pq.real / pp + 0j
    err = (wn * np.abs(factor[:, None] * pc - qc) ** 2).sum(-1)
    shift = q_mean - factor * p_mean
    return factor, np.stack([shift.real, shift.imag], -1), err


def estimate_camera(
    landmarks: np.ndarray,
    image_size: int = 512,
    config: CameraFitConfig = CameraFitConfig(),
) -> CameraEstimate:
    """EG3D camera of an aligned face photo from its (68, 2) landmarks (pixel index coordinates, iBUG order).

    ``image_size`` is the side of the aligned (square) image in pixels. See the module docstring for the method
    and its accuracy. Raises ValueError for landmarks of the wrong shape or with NaN/infinite values.
    """
    lm = _check_landmarks(landmarks, image_size)
    cfg = config
    model = _Model(int(image_size))
    w = cfg.weights()
    sqrt_w = np.sqrt(w)[:, None]
    c0 = model.center

    # 1. Coarse grid over yaw × elevation, each pose with its closed-form best 2D similarity (the similarity's
    #    rotation stands in for the roll).
    step = cfg.grid_step_deg
    yaws = np.arange(-math.floor(cfg.max_yaw_deg / step), math.floor(cfg.max_yaw_deg / step) + 1) * step
    elevations = np.arange(-math.floor(cfg.max_elevation_deg / step), math.floor(cfg.max_elevation_deg / step) + 1)
    elevations = elevations * step
    # Stay strictly inside the bounds: the trust-region solver needs an interior start.
    yaws = np.clip(yaws, -cfg.max_yaw_deg + 1, cfg.max_yaw_deg - 1)
    elevations = np.clip(elevations, -cfg.max_elevation_deg + 1, cfg.max_elevation_deg - 1)
    grid = np.radians(np.stack(np.meshgrid(yaws, elevations, indexing="ij"), -1).reshape(-1, 2))
    factor, _, err = _similarity(model.project_orbit(grid), lm, w, cfg.fit_roll)
    best = int(np.argmin(err))
    # The similarity turns the content by φ (clockwise as displayed, y down): a camera roll of −φ.
    max_roll = math.radians(cfg.max_roll_deg)
    roll0 = float(np.clip(-np.angle(factor[best]), -0.99 * max_roll, 0.99 * max_roll)) if cfg.fit_roll else 0.0
    rolled0, _ = model.roll(model.project_orbit(grid[best][None])[0], roll0)
    scale_f, shift, _ = _similarity(rolled0[None], lm, w, rotate=False)
    scale0 = max(float(scale_f[0].real), 1e-3)
    offset0 = shift[0] + (scale0 - 1.0) * c0  # s·p + t = s·(p − c0) + c0 + offset

    # 2. Robust least squares over x = [yaw, elevation, (roll), log scale, offset x, offset y].
    n_angles = 3 if cfg.fit_roll else 2
    h = 1e-6  # central-difference step in yaw and elevation (radians)
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(projection at x without scale/offset (68, 2), its derivatives in the angles (n_angles, 68, 2))."""
        key = x.tobytes()
        if key not in cache:
            batch = np.array([[x[0], x[1]], [x[0] + h, x[1]], [x[0] - h, x[1]], [x[0], x[1] + h], [x[0], x[1] - h]])
            orbit = model.project_orbit(batch)  # one torch call per solver step
            rolled, d_roll = model.roll(orbit, x[2] if cfg.fit_roll else 0.0)
            d_orbit = np.stack([rolled[1] - rolled[2], rolled[3] - rolled[4]]) / (2 * h)
            derivatives = np.concatenate([d_orbit, d_roll[:1]]) if cfg.fit_roll else d_orbit
            cache.clear()
            cache[key] = (rolled[0], derivatives)
        return cache[key]

    def residuals(x: np.ndarray) -> np.ndarray:
        proj, _ = evaluate(x)
        return (sqrt_w * (math.exp(x[n_angles]) * (proj - c0) + c0 + x[n_angles + 1:] - lm)).ravel()

    def jacobian(x: np.ndarray) -> np.ndarray:
        scale = math.exp(x[n_angles])
        proj, derivatives = evaluate(x)
        jac = np.zeros((68, 2, n_angles + 3))
        jac[..., :n_angles] = np.moveaxis(sqrt_w * scale * derivatives, 0, -1)
        jac[..., n_angles] = sqrt_w * scale * (proj - c0)
        jac[:, 0, n_angles + 1] = sqrt_w[:, 0]
        jac[:, 1, n_angles + 2] = sqrt_w[:, 0]
        return jac.reshape(136, -1)

    x0 = [grid[best, 0], grid[best, 1]] + ([roll0] if cfg.fit_roll else []) + [math.log(scale0), *offset0]
    angle_bounds = [math.radians(cfg.max_yaw_deg), math.radians(cfg.max_elevation_deg)]
    angle_bounds += [max_roll] if cfg.fit_roll else []
    lower = [-b for b in angle_bounds] + [-np.inf] * 3
    upper = angle_bounds + [np.inf] * 3
    result = least_squares(residuals, np.array(x0), jac=jacobian, bounds=(lower, upper), method="trf",
                           loss=cfg.loss, f_scale=cfg.loss_scale_px * image_size / 512.0,
                           x_scale="jac", xtol=1e-8, ftol=1e-8, gtol=1e-8, max_nfev=100)

    x = result.x
    proj, _ = evaluate(x)
    scale, offset = math.exp(x[n_angles]), np.array(x[n_angles + 1:], dtype=np.float64)
    fitted = scale * (proj - c0) + c0 + offset
    diff = fitted - lm
    yaw, elevation, roll = float(x[0]), float(x[1]), float(x[2]) if cfg.fit_roll else 0.0
    pitch = float(elevation_to_pitch(elevation))
    camera = camera_from_angles(yaw, pitch, roll, dtype=torch.float32).numpy()
    return CameraEstimate(
        yaw=yaw, pitch=pitch, roll=roll, camera=camera, scale=scale, offset=offset,
        rms_px=float(np.sqrt(np.mean(np.sum(diff**2, -1)))), residuals=diff, fitted=fitted,
        success=bool(result.success), nfev=int(result.nfev),
    )


# --------------------------------------------------------------------------------------------
# Published labels
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _labels(path: str, mtime_ns: int, size: int) -> Any:
    return FfhqLabels.from_file(path)


def camera_from_dataset_json(path: str | os.PathLike[str], image_name: str) -> np.ndarray:
    """(25,) float32 camera of ``image_name`` in an EG3D ``dataset.json`` ({"labels": [[name, [25 floats]], …]}).

    Names match exactly or by stem (``"00000.png"``, ``"00000"``, ``"00000/img00000000.png"``, see
    :class:`helpers.datasets.ffhq_labels.FfhqLabels`). The parsed file is cached (by path, size and modification
    time). Raises KeyError naming close matches when the image is not labelled
    (:meth:`helpers.datasets.ffhq_labels.FfhqLabels.index_of`).
    """
    file = Path(path)
    stat = file.stat() if file.is_file() else None
    labels = _labels(str(file.resolve()), stat.st_mtime_ns, stat.st_size) if stat else _labels(str(file), 0, 0)
    return labels.camera(image_name)
