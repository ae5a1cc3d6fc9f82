"""The viewpoint mix of the synthetic datasets: each sample's camera drawn from its seed alone.

A :class:`ViewpointMix` is a weighted set of :class:`ViewpointCategory` (ranges of yaw and of the official pitch
offset, radius, focal, look-at point; angles in radians, see :mod:`helpers.base.cameras`). ``sample(seed)``
depends only on the seed and the mix, so resumed and sharded runs draw the same cameras. The default mix keeps the
original project's proportions (70 / 12 / 6 / 12 %); its ranges are ours (docs/conventions.md, "Viewpoints of the synthetic dataset").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from helpers.base.cameras import CAMERA_DIM, FOCAL, PIVOT, RADIUS, intrinsics, orbit_pose, pack


@dataclass(frozen=True)
class ViewpointCategory:
    """A family of camera viewpoints, sampled uniformly inside its ranges.

    Attributes:
        name: identifier recorded per sample.
        weight: share of the samples drawn from this category (a mix normalises its weights; see
            :meth:`ViewpointMix.parse` for the command line's shares).
        yaw: (min, max) of |yaw| in radians; the sign is random when ``symmetric``.
        pitch: (min, max) of the official pitch offset (see the module doc; not an angle).
        radius: orbit radius (world units).
        focal: normalised focal length (smaller = wider framing).
        lookat: point the camera looks at (world units).
        symmetric: draw yaw on both sides of the face.
    """

    name: str
    weight: float
    yaw: tuple[float, float]
    pitch: tuple[float, float] = (-0.2, 0.2)
    radius: float = RADIUS
    focal: float = FOCAL
    lookat: tuple[float, float, float] = PIVOT
    symmetric: bool = True

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"category {self.name!r}: weight must be >= 0, got {self.weight}")
        for label, (lo, hi) in (("yaw", self.yaw), ("pitch", self.pitch)):
            if lo > hi:
                raise ValueError(f"category {self.name!r}: {label} range must be (min, max), got {(lo, hi)}")
        if self.yaw[0] < 0:
            raise ValueError(f"category {self.name!r}: yaw range is for |yaw| and must be >= 0")


_DEG = math.pi / 180.0

#: The original project's viewpoint mix (70 / 12 / 6 / 12 %). Its generator is not public, so
#: the ranges are ours; each is documented in docs/conventions.md ("Viewpoints of the synthetic dataset").
DEFAULT_CATEGORIES: tuple[ViewpointCategory, ...] = (
    # Tight face crop as in FFHQ: the official framing, mild head turns.
    ViewpointCategory("frontal", 0.70, yaw=(0.0, 20 * _DEG), pitch=(-0.2, 0.2)),
    # Turned heads up to 70°: still well inside what the FFHQ generators render faithfully.
    ViewpointCategory("side", 0.12, yaw=(20 * _DEG, 70 * _DEG), pitch=(-0.2, 0.2)),
    # Profile views: EG3D's quality drops here, but a depth model must have seen them.
    ViewpointCategory("side_extreme", 0.06, yaw=(70 * _DEG, 90 * _DEG), pitch=(-0.15, 0.15)),
    # Frontal with neck: wider field of view (focal 3.6 ≈ 22.2° diagonal instead of 18.8°),
    # pivot lowered by 0.06 so chin and neck are in the frame.
    ViewpointCategory(
        "frontal_neck", 0.12, yaw=(0.0, 20 * _DEG), pitch=(-0.1, 0.2), focal=3.6, lookat=(0.0, -0.06, 0.2)
    ),
)


@dataclass(frozen=True)
class Viewpoint:
    """One sampled viewpoint: the category and the exact parameters the camera was built from."""

    category: str
    yaw: float
    pitch: float
    radius: float
    focal: float
    lookat: tuple[float, float, float]

    def cam2world(self) -> torch.Tensor:
        """(4, 4) float32 cam2world."""
        return orbit_pose(self.yaw, self.pitch, radius=self.radius, lookat=self.lookat)[0]

    def camera(self) -> torch.Tensor:
        """(25,) float32 EG3D camera vector."""
        return pack(self.cam2world(), intrinsics(self.focal))

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly record (manifest line)."""
        d = asdict(self)
        d["lookat"] = list(self.lookat)
        return d


@dataclass(frozen=True)
class ViewpointMix:
    """A weighted set of viewpoint categories; sampling is deterministic per sample seed.

    ``sample(seed)`` depends only on ``seed`` (and the mix), never on batch composition or
    order, so a resumed or sharded dataset run draws exactly the same cameras.
    """

    categories: tuple[ViewpointCategory, ...] = field(default=DEFAULT_CATEGORIES)

    # Separates the camera random stream from the latent (z) stream of the same seed.
    _STREAM = 0x0CA3E7A

    def __post_init__(self) -> None:
        if not self.categories:
            raise ValueError("a viewpoint mix needs at least one category")
        names = [c.name for c in self.categories]
        if len(set(names)) != len(names):
            raise ValueError(f"category names must be unique, got {names}")
        if sum(c.weight for c in self.categories) <= 0:
            raise ValueError("category weights must not all be zero")

    @property
    def probabilities(self) -> dict[str, float]:
        total = sum(c.weight for c in self.categories)
        return {c.name: c.weight / total for c in self.categories}

    def with_weights(self, weights: dict[str, float]) -> ViewpointMix:
        """A copy with some category weights replaced, e.g. ``{"side_extreme": 0.0}``."""
        unknown = set(weights) - {c.name for c in self.categories}
        if unknown:
            raise ValueError(f"unknown viewpoint categories {sorted(unknown)}; known: {[c.name for c in self.categories]}")
        return ViewpointMix(
            tuple(
                ViewpointCategory(**{**asdict(c), "weight": float(weights.get(c.name, c.weight))})
                for c in self.categories
            )
        )

    @classmethod
    def parse(cls, text: str) -> ViewpointMix:
        """The default categories with the shares of ``"frontal=0.7,side=0.12,side_extreme=0.06,frontal_neck=0.12"``.

        The text is the whole mix: the categories it names get their share, the others none (``"frontal=1"``: only
        frontal views). Shares lie in [0, 1] and add up to 1 (±1e-6); anything else is refused, naming the sum.
        """
        weights: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"viewpoint mix items look like name=share, got {item!r} — e.g. "
                                 "frontal=0.7,side=0.3")
            name = name.strip()
            if name in weights:
                raise ValueError(f"viewpoint category {name!r} is named twice — give each share once")
            try:
                weights[name] = float(value)
            except ValueError:
                raise ValueError(f"share of {name!r} is not a number: {value!r} — give a number in [0, 1]") from None
            if not 0.0 <= weights[name] <= 1.0:
                raise ValueError(f"share of {name!r} is {value.strip()}, outside [0, 1] — shares are fractions of "
                                 "the samples that add up to 1, e.g. frontal=0.7,side=0.3")
        if not weights:
            raise ValueError("empty viewpoint mix — name categories with their shares, e.g. frontal=0.7,side=0.3")
        known = [c.name for c in DEFAULT_CATEGORIES]
        unknown = sorted(set(weights) - set(known))
        if unknown:
            raise ValueError(f"unknown viewpoint categories {unknown} — known: {', '.join(known)}")
        total = sum(weights.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"viewpoint shares add up to {total:g}, not 1 — the mix names every category that "
                             "gets samples (the others get none); make the shares add up to 1")
        return cls().with_weights({name: weights.get(name, 0.0) for name in known})

    def sample(self, seed: int) -> Viewpoint:
        """The viewpoint of the sample with this seed."""
        rng = np.random.default_rng([int(seed), self._STREAM])
        probs = np.array([c.weight for c in self.categories], dtype=np.float64)
        category = self.categories[int(rng.choice(len(probs), p=probs / probs.sum()))]
        yaw = rng.uniform(*category.yaw)
        if category.symmetric and rng.random() < 0.5:
            yaw = -yaw
        pitch = rng.uniform(*category.pitch)
        return Viewpoint(
            category=category.name,
            yaw=float(yaw),
            pitch=float(pitch),
            radius=float(category.radius),
            focal=float(category.focal),
            lookat=tuple(float(v) for v in category.lookat),
        )

    def cameras(self, seeds: Sequence[int]) -> tuple[torch.Tensor, list[Viewpoint]]:
        """(N, 25) camera vectors for ``seeds`` and the viewpoints they were built from."""
        views = [self.sample(s) for s in seeds]
        if not views:
            return torch.zeros(0, CAMERA_DIM), views
        poses = torch.cat(
            [orbit_pose(v.yaw, v.pitch, radius=v.radius, lookat=v.lookat) for v in views], dim=0
        )
        ks = torch.stack([intrinsics(v.focal) for v in views])
        return pack(poses, ks), views
