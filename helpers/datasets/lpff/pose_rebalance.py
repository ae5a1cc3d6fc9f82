"""LPFF's pose statistics and rebalancing, as published: pose angles (θ, φ) of EG3D cameras, the Gaussian KDE density
of the poses, the copies rule, and the rebalanced labels in EG3D's replica scheme.

- :func:`theta_phi`: from the camera position (the translation column of cam2world, relative to the world origin),
  θ ∈ [0, π], the angle from world +x (θ = π/2 − yaw on the horizontal circle), and φ, the angle in the y–z plane
  from world +y (π/2 = level, smaller = camera above the face).
- :func:`pose_density`: ``scipy.stats.gaussian_kde`` (Scott's bandwidth) fitted on the (θ, φ) of every image of the
  training set, evaluated at each of them; :func:`copies_from_density` turns it into a copy count by
  :class:`RebalanceRule`; :func:`rebalance_counts` does both.
- :func:`rebalanced_labels` returns the labels in EG3D's replica scheme, :func:`repeated_names` LPFF's list of
  repeated names; :func:`helpers.dataset_folder.eg3d_export.export_eg3d` writes an EG3D image folder.

The thresholds were tuned on the FFHQ+LPFF densities, so counts for LPFF alone differ from the published ones: pass
FFHQ-EG3D's ``dataset.json`` as ``reference`` to fit the KDE on the published set (its poses join the fit; only the
LPFF samples get counts).

Design notes: docs/design/datasets.md (pose_rebalance): the published formulas and scripts, step by step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from helpers.base import cameras
from helpers.datasets.ffhq_labels import (
    FfhqLabels,
    as_camera,
    parse_labels,
    replicate,
)

__all__ = ["FFHQ_DENSITY_THRESHOLD", "RebalanceRule", "copies_from_density", "pose_density", "poses_of",
           "rebalance_counts", "rebalanced_labels", "reference_density", "repeated_names", "theta_phi"]


#: LPFF keeps a photo's face only when its pose density under FFHQ's KDE is below this
#: (``0_image_processing/2_predict_camera_parameter.py``: ``if density >= 0.4``: moved to ``bad_re_align``).
FFHQ_DENSITY_THRESHOLD = 0.4


# --------------------------------------------------------------------------------------------
# Pose angles
# --------------------------------------------------------------------------------------------


def _positions(camera: np.ndarray | Sequence[Any]) -> np.ndarray:
    c = np.asarray(camera, dtype=np.float64)
    if c.shape[-1:] == (cameras.CAMERA_DIM,):
        return c[..., [3, 7, 11]]
    if c.shape[-2:] == (4, 4):
        return c[..., :3, 3]
    raise ValueError(f"expected (..., 25) EG3D cameras or (..., 4, 4) cam2world matrices, got shape {c.shape}")


def theta_phi(camera: np.ndarray | Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """LPFF's pose angles (θ, φ) in radians of (..., 25) cameras or (..., 4, 4) cam2world (see the module doc).

    ``φ = atan2(z, y)``, ``θ = atan2(hypot(y, z), x)`` of the camera position (world origin). float64 arrays.
    """
    pos = _positions(camera)
    x, y, z = pos[..., 0], pos[..., 1], pos[..., 2]
    return np.arctan2(np.hypot(y, z), x), np.arctan2(z, y)


def poses_of(camera: np.ndarray | Sequence[Any]) -> np.ndarray:
    """(N, 2) float64 (θ, φ) of (N, 25) cameras: the input of :func:`rebalance_counts`."""
    theta, phi = theta_phi(camera)
    return np.stack([np.ravel(theta), np.ravel(phi)], axis=-1)


# --------------------------------------------------------------------------------------------
# Rebalancing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebalanceRule:
    """Copies per image from its pose density (defaults: LPFF's published rule, see the module doc).

    Attributes:
        scale: copies = round(scale / density) (the script writes ``4 * 0.06``, which is 0.24 in float64).
        min_copies, max_copies: the clip applied to that.
        low_density: ``(threshold, copies)`` checked in this order after clipping: the first with
            ``density < threshold`` sets the copies. Published: below 0.02 → 6, else below 0.03 → 5.
    Densities are those of a KDE over (θ, φ) in radians (units 1/rad²).
    """

    scale: float = 4 * 0.06
    min_copies: int = 1
    max_copies: int = 4
    low_density: tuple[tuple[float, int], ...] = field(default=((0.02, 6), (0.03, 5)))

    def __post_init__(self) -> None:
        if not (self.scale > 0 and 1 <= self.min_copies <= self.max_copies):
            raise ValueError(f"RebalanceRule needs scale > 0 and 1 <= min_copies <= max_copies, got {self}")
        if any(copies < 1 for _, copies in self.low_density):
            raise ValueError(f"RebalanceRule.low_density copies must be >= 1, got {self.low_density}")


def _as_poses(poses: np.ndarray | Sequence[Any], what: str) -> np.ndarray:
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"{what} must be an (N, 2) array of (theta, phi) in radians, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{what} hold NaN or infinite angles")
    return p


def _fit_kde(fit: np.ndarray) -> Any:
    from scipy.stats import gaussian_kde

    try:
        return gaussian_kde(fit.T)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ValueError(f"the pose KDE needs at least 3 poses that are not all on one line ({len(fit)} given: "
                         f"{exc})") from None


def _evaluate(kde: Any, poses: np.ndarray, chunk: int, progress: bool) -> np.ndarray:
    from tqdm.auto import tqdm

    out = np.empty(len(poses))
    for start in tqdm(range(0, len(poses), chunk), desc="pose density", unit="chunk", disable=not progress):
        out[start:start + chunk] = kde(poses[start:start + chunk].T)
    return out


def pose_density(poses: np.ndarray | Sequence[Any], *, reference: np.ndarray | Sequence[Any] | None = None,
                 chunk: int = 8192, progress: bool = False) -> np.ndarray:
    """(N,) float64 density of each (θ, φ) pose under a Gaussian KDE (scipy's ``gaussian_kde``, Scott's
    bandwidth) fitted on ``poses`` plus ``reference`` (poses that join the fit, e.g. FFHQ's).

    O(N·M) for N poses and M fitted poses, measured on one core here: 6 s for 20,000², so about 25 s for LPFF
    with mirrors (39,180²) and 8 minutes for the published FFHQ+LPFF set (179,094²).
    """
    p = _as_poses(poses, "poses")
    fit = p if reference is None else np.concatenate([p, _as_poses(reference, "reference poses")])
    return _evaluate(_fit_kde(fit), p, chunk, progress)


def reference_density(poses: np.ndarray | Sequence[Any], reference: np.ndarray | Sequence[Any], *,
                      chunk: int = 8192, progress: bool = False) -> np.ndarray:
    """(N,) float64 density of each (θ, φ) pose under a Gaussian KDE fitted on ``reference`` alone.

    LPFF's photo filter: its ``kde.pkl`` is this KDE on FFHQ-EG3D's 139,914 poses (mirrors included, in
    ``dataset.json`` order), and its camera step keeps a face only when the density of its pose is below 0.4
    (:data:`FFHQ_DENSITY_THRESHOLD`), i.e. when the pose is rare in FFHQ.
    """
    return _evaluate(_fit_kde(_as_poses(reference, "reference poses")), _as_poses(poses, "poses"), chunk, progress)


def copies_from_density(density: np.ndarray | Sequence[float], rule: RebalanceRule = RebalanceRule()) -> np.ndarray:
    """(N,) int64 copies per image from its pose density by ``rule`` (the published rule by default)."""
    d = np.asarray(density, dtype=np.float64)
    if not np.all(d >= 0):  # also refuses NaN
        raise ValueError("pose densities must be >= 0 (and not NaN)")
    with np.errstate(divide="ignore"):  # density 0 → inf → max_copies, as in the published script
        copies = np.clip(np.rint(rule.scale / d), rule.min_copies, rule.max_copies)  # rint: halves to even
    decided = np.zeros(d.shape, dtype=bool)
    for threshold, n in rule.low_density:
        hit = (d < threshold) & ~decided
        copies[hit] = n
        decided |= hit
    return copies.astype(np.int64)


def rebalance_counts(poses: np.ndarray | Sequence[Any], *, reference: np.ndarray | Sequence[Any] | None = None,
                     rule: RebalanceRule = RebalanceRule(), progress: bool = False) -> np.ndarray:
    """(N,) int64 copies of each image with (θ, φ) ``poses`` (N, 2) in radians, by LPFF's published rebalancing:
    KDE over all poses (plus ``reference``), then :func:`copies_from_density`."""
    return copies_from_density(pose_density(poses, reference=reference, progress=progress), rule)


def _label_pairs(labels: Any) -> list[tuple[str, np.ndarray]]:
    if isinstance(labels, FfhqLabels):
        return labels.pairs()
    if isinstance(labels, dict) and "labels" in labels:
        return parse_labels(labels)
    if isinstance(labels, Mapping):
        return [(str(n), as_camera(c, str(n))) for n, c in labels.items()]
    return [(str(n), as_camera(c, str(n))) for n, c in labels]


def rebalanced_labels(labels: Any, counts: Sequence[int] | np.ndarray | None = None, *,
                      reference: np.ndarray | Sequence[Any] | None = None,
                      rule: RebalanceRule = RebalanceRule()) -> dict[str, Any]:
    """EG3D ``dataset.json`` of the rebalanced set: ``{"labels": [[replica name, [25 floats]], ...]}``.

    ``labels``: a ``{"labels": [...]}`` object, a ``{name: camera}`` mapping (e.g.
    :func:`helpers.datasets.lpff.lpff_folder.read_camera_parameters`), ``(name, camera)`` pairs or
    :class:`~helpers.datasets.ffhq_labels.FfhqLabels`. ``counts``: copies per label (default: :func:`rebalance_counts` of
    their poses with ``reference`` and ``rule``). Each label is written ``n`` times as
    ``<stem>_00<ext>``, ``<stem>_01<ext>``, … (EG3D's replica names: its training reads one label per file name, so
    the replicas need image files of those names, e.g. from :func:`helpers.dataset_folder.eg3d_export.export_eg3d`).
    """
    pairs = _label_pairs(labels)
    if counts is None:
        counts = rebalance_counts(poses_of(np.stack([c for _, c in pairs])), reference=reference, rule=rule)
    counts = np.asarray(counts)
    if counts.shape != (len(pairs),) or not np.issubdtype(counts.dtype, np.integer) or np.any(counts < 0):
        raise ValueError(f"counts must be {len(pairs)} integers >= 0 (one per label), got {counts.shape} {counts.dtype}")
    return replicate(pairs, enumerate(int(n) for n in counts))


def repeated_names(names: Sequence[str], counts: Sequence[int] | np.ndarray) -> list[str]:
    """Each name ``n`` times, in order: the image list LPFF's EG3D fork reads (``FFHQ_LPFF_rebalanced.json``)."""
    if len(names) != len(counts):
        raise ValueError(f"{len(names)} names but {len(counts)} counts")
    return [name for name, n in zip(names, counts) for _ in range(int(n))]
