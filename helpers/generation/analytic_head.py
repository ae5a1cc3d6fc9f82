"""An analytic head: exact density, depth and images without EG3D, for demos, tests and smoke runs.

The head is a union of ellipsoids (skull, nose, ears, neck) in EG3D world units and frame (y up,
face towards +z), expressed as a density field whose surface is at the official marching-cubes
threshold ``σ = 10``. It is rendered by ray marching through EG3D cameras, so its depth maps,
masks and meshes carry exact ground truth for every geometry function of the toolkit.
:func:`random_head` draws varied heads around the default one (the samples of :mod:`helpers.generation.head_dataset`), and
:func:`head_parameters` flattens a head into a (512,) vector that stands in for a latent code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.base import cameras

#: Official EG3D marching-cubes threshold on raw density.
SURFACE_LEVEL = 10.0
#: Length of :func:`head_parameters`' vector (EG3D's w_dim, so it stands in for a latent).
LATENT_DIM = 512
_PART_NAMES = ("skull", "nose", "ear_right", "ear_left", "neck")
#: Names of the first values of :func:`head_parameters` (the rest are zeros).
PARAMETERS: tuple[str, ...] = (
    *(f"{part}.{kind}_{axis}" for part in _PART_NAMES for kind in ("center", "radius") for axis in "xyz"),
    "color.r", "color.g", "color.b", "light.x", "light.y", "light.z",
)


@dataclass(frozen=True)
class Ellipsoid:
    """An axis-aligned ellipsoid: ``center`` and semi-axes ``radii`` in world units."""

    center: tuple[float, float, float]
    radii: tuple[float, float, float]

    def inside(self, points: np.ndarray) -> np.ndarray:
        """1 − ‖(p − c) / r‖: positive inside, 0 on the surface, negative outside."""
        q = (points - np.asarray(self.center, dtype=points.dtype)) / np.asarray(self.radii, dtype=points.dtype)
        return 1.0 - np.sqrt(np.sum(q * q, axis=-1))


def default_parts() -> tuple[Ellipsoid, ...]:
    """The default head's ellipsoids: skull, nose, right ear, left ear, neck (world units)."""
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

    parts: tuple[Ellipsoid, ...] = field(default_factory=default_parts)
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


# ------------------------------------------------------------------------------------------------ random heads
def random_head(rng: np.random.Generator) -> AnalyticHead:
    """A head-like :class:`AnalyticHead` around the default one, drawn from ``rng`` (world units).

    Skull radii vary by ±18 % and its centre by a few hundredths; nose, ears (symmetric) and neck radii by
    15–25 %, and they stay attached: the nose sits on the front of the skull, the ears on its sides, the neck
    under it. Skin colour runs from light to dark brown (plus a little jitter), the key light comes from the
    front upper half in a random direction (unit vector).
    """
    skull, nose, ear, _, neck = default_parts()

    def scaled(part: Ellipsoid, spread: float) -> np.ndarray:
        return np.asarray(part.radii) * rng.uniform(1 - spread, 1 + spread, 3)

    skull_r = scaled(skull, 0.18)
    skull_c = np.array([0.0, skull.center[1] + rng.uniform(-0.03, 0.03), rng.uniform(-0.02, 0.02)])
    nose_r = scaled(nose, 0.22)
    nose_c = np.array([0.0, skull_c[1] - 0.06 + rng.uniform(-0.04, 0.03),
                       skull_c[2] + skull_r[2] - 0.02 + rng.uniform(-0.02, 0.01)])
    ear_r = scaled(ear, 0.22)
    ear_c = np.array([skull_r[0] - 0.005 + rng.uniform(-0.01, 0.01), skull_c[1] - 0.03 + rng.uniform(-0.03, 0.03),
                      skull_c[2] + ear.center[2] + rng.uniform(-0.02, 0.02)])
    neck_r = scaled(neck, 0.15)
    neck_c = np.array([0.0, skull_c[1] - skull_r[1] - 0.04 + rng.uniform(-0.02, 0.02), neck.center[2]
                       + rng.uniform(-0.03, 0.02)])
    mirror = np.array([-1.0, 1.0, 1.0])
    centres_radii = ((skull_c, skull_r), (nose_c, nose_r), (ear_c, ear_r), (ear_c * mirror, ear_r), (neck_c, neck_r))
    parts = tuple(Ellipsoid(_floats(c), _floats(r)) for c, r in centres_radii)

    light_skin, dark_skin = np.array([0.95, 0.80, 0.70]), np.array([0.42, 0.28, 0.20])
    color = np.clip(light_skin + rng.uniform() * (dark_skin - light_skin) + rng.uniform(-0.03, 0.03, 3), 0.0, 1.0)
    light = np.array([rng.uniform(-0.8, 0.8), rng.uniform(0.1, 0.9), 1.0])
    return AnalyticHead(parts=parts, color=_floats(color), light=_floats(light / np.linalg.norm(light)))


def _floats(values: np.ndarray) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return a, b, c


def head_parameters(head: AnalyticHead) -> np.ndarray:
    """(512,) float32: each part's centre and radii, skin colour and light (:data:`PARAMETERS`), zero-padded."""
    values = [v for part in head.parts for v in (*part.center, *part.radii)] + [*head.color, *head.light]
    if len(values) > LATENT_DIM:
        raise ValueError(f"a head of {len(head.parts)} parts has more than {LATENT_DIM} parameters")
    out = np.zeros(LATENT_DIM, dtype=np.float32)
    out[: len(values)] = values
    return out
