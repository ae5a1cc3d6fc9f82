"""An analytic head: exact density, depth and images without EG3D, for demos, tests and smoke runs.

The head is a union of ellipsoids (skull, nose, ears, neck) in EG3D world units and frame (y up,
face towards +z), expressed as a density field whose surface is at the official marching-cubes
threshold ``σ = 10``. It is rendered by ray marching through EG3D cameras, so its depth maps,
masks and meshes carry exact ground truth for every geometry function of the toolkit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers import cameras

#: Official EG3D marching-cubes threshold on raw density.
SURFACE_LEVEL = 10.0


@dataclass(frozen=True)
class Ellipsoid:
    """An axis-aligned ellipsoid: ``center`` and semi-axes ``radii`` in world units."""

    center: tuple[float, float, float]
    radii: tuple[float, float, float]

    def inside(self, points: np.ndarray) -> np.ndarray:
        """1 − ‖(p − c) / r‖: positive inside, 0 on the surface, negative outside."""
        q = (points - np.asarray(self.center, dtype=points.dtype)) / np.asarray(self.radii, dtype=points.dtype)
        return 1.0 - np.sqrt(np.sum(q * q, axis=-1))


def _default_parts() -> tuple[Ellipsoid, ...]:
    return (
        Ellipsoid((0.0, 0.03, 0.0), (0.24, 0.32, 0.27)),  # skull and face
        Ellipsoid((0.0, -0.03, 0.25), (0.045, 0.085, 0.1)),  # nose
        Ellipsoid((0.235, 0.0, -0.02), (0.03, 0.06, 0.04)),  # ears
        Ellipsoid((-0.235, 0.0, -0.02), (0.03, 0.06, 0.04)),
        Ellipsoid((0.0, -0.33, -0.03), (0.12, 0.2, 0.12)),  # neck
    )


@dataclass(frozen=True)
class SyntheticView:
    """A rendered view: ``image`` (H, W, 3) uint8, ``depth`` (H, W) float32 camera-space z-depth
    in world units (0 = no surface), ``mask`` (H, W) bool, and the ``camera`` (25,) it was seen from."""

    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    camera: np.ndarray


@dataclass(frozen=True)
class AnalyticHead:
    """A head-shaped density field: ``σ(p) = level + slope · max_k inside_k(p)``.

    Attributes:
        parts: ellipsoids whose union is the head.
        slope: density gain; the surface is where σ crosses ``level``.
        level: density of the surface (the official threshold, 10).
        color: RGB albedo of the skin in [0, 1].
        light: direction towards the key light (world frame).
    """

    parts: tuple[Ellipsoid, ...] = field(default_factory=_default_parts)
    slope: float = 100.0
    level: float = SURFACE_LEVEL
    color: tuple[float, float, float] = (0.86, 0.67, 0.55)
    light: tuple[float, float, float] = (-0.5, 0.6, 1.0)

    #: Side of the cube (world units) that holds the head, as EG3D's box_warp for FFHQ.
    box_size: float = 1.0

    @property
    def description(self) -> str:
        return f"analytic head ({len(self.parts)} ellipsoids)"

    def density(self, points: np.ndarray) -> np.ndarray:
        """Raw density at (..., 3) world points; ``> level`` inside the head."""
        points = np.asarray(points, dtype=np.float64)
        inside = np.max(np.stack([part.inside(points) for part in self.parts]), axis=0)
        return self.level + self.slope * inside

    def normals(self, points: np.ndarray, eps: float = 1e-4) -> np.ndarray:
        """Outward unit normals (−∇σ, central differences) at (..., 3) points."""
        grad = np.stack(
            [
                self.density(points + offset) - self.density(points - offset)
                for offset in np.eye(3) * eps
            ],
            axis=-1,
        )
        grad = -grad
        return grad / np.maximum(np.linalg.norm(grad, axis=-1, keepdims=True), 1e-12)

    def render(
        self,
        camera: np.ndarray,
        resolution: int = 128,
        *,
        near: float = 2.0,
        far: float = 3.4,
        steps: int = 192,
        refine: int = 12,
    ) -> SyntheticView:
        """Ray-march the head from an EG3D camera (25-vector) at ``resolution``².

        Each pixel's ray is sampled at ``steps`` z-depths in [near, far]; the first crossing of
        the surface is refined by ``refine`` bisection steps (error ≈ (far − near) / steps / 2^refine).
        The image is Lambert-shaded by a key light fixed in the world, plus ambient.
        """
        camera = np.asarray(camera, dtype=np.float64).reshape(cameras.CAMERA_DIM)
        cam2world, k = cameras.unpack(camera)
        rot, origin = cam2world[:3, :3], cam2world[:3, 3]
        dirs = cameras.pixel_directions(k, resolution, resolution).reshape(-1, 3) @ rot.T  # world, z-scaled

        z_grid = np.linspace(near, far, steps)
        depth = np.zeros(len(dirs))
        hit = np.zeros(len(dirs), dtype=bool)
        for rows in np.array_split(np.arange(len(dirs)), max(1, len(dirs) * steps // 2_000_000)):
            pts = origin + dirs[rows, None, :] * z_grid[None, :, None]
            inside = self.density(pts) > self.level
            first = np.argmax(inside, axis=1)
            ok = inside[np.arange(len(rows)), first] & (first > 0)
            lo, hi = z_grid[np.maximum(first - 1, 0)], z_grid[first]
            for _ in range(refine):  # bisection between the last outside and first inside sample
                mid = 0.5 * (lo + hi)
                is_in = self.density(origin + dirs[rows] * mid[:, None]) > self.level
                hi = np.where(is_in, mid, hi)
                lo = np.where(is_in, lo, mid)
            depth[rows] = np.where(ok, 0.5 * (lo + hi), 0.0)
            hit[rows] = ok

        points = origin + dirs * depth[:, None]
        normal = self.normals(points)
        # A key light fixed in the world (upper left, in front of the face) so that the shape reads
        # the same from every viewpoint, plus ambient.
        light = np.clip(normal @ (self.light / np.linalg.norm(self.light)), 0.0, 1.0)
        shade = 0.3 + 0.7 * light
        rgb = np.where(hit[:, None], shade[:, None] * np.asarray(self.color), 0.08)
        image = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8).reshape(resolution, resolution, 3)
        return SyntheticView(
            image=image,
            depth=depth.reshape(resolution, resolution).astype(np.float32),
            mask=hit.reshape(resolution, resolution),
            camera=camera.astype(np.float32),
        )
