"""Geometry of the FFHQ/EG3D face crop: an oriented square ("quad") from the eyes and mouth.

The recipe is FFHQ's alignment in one stage, with two constants calibrated so that the result is EG3D's crop:

1. From 68 landmarks (dlib/iBUG order): eye centres = means of points 36–41 and 42–47; mouth corners = points 48 and
   54. ``eye_to_eye`` = right − left eye, ``eye_to_mouth`` = mouth midpoint − eye midpoint.
2. Half-side vector ``x`` = direction of ``eye_to_eye`` rotated towards the face's vertical axis
   (``eye_to_eye − rot90(eye_to_mouth)``), with length ``max(2·|eye_to_eye|, 1.8·|eye_to_mouth|)·quad_scale``;
   ``y = rot90(x)``; centre ``c = eye_midpoint + (0.1 + center_shift)·eye_to_mouth``. The quad's side is ``2·|x|``.
3. The quad is resampled to a ``transform_size``² image (1024), whose central ``crop_size``² (700) is
   resized to ``output_size``² (512).

With ``quad_scale = 1`` and ``center_shift = 0`` this is FFHQ's own alignment followed by a centre crop
(:meth:`CropRecipe.ffhq`). The defaults :data:`EG3D_QUAD_SCALE` and :data:`EG3D_CENTER_SHIFT` give EG3D's crop: eyes
≈ 140 px apart and ≈ 58 px above the centre of the 512² image.

Coordinates are pixel *index* coordinates (the centre of pixel column j is x = j), as dlib returns them; x to the
right, y down. The whole recipe is one similarity transform, :func:`crop_transform`.

Design notes: docs/design/invert.md (crop_recipe): how EG3D's crop was measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.invert import ibug68 as ib

__all__ = [
    "EG3D_CENTER_SHIFT",
    "EG3D_QUAD_SCALE",
    "CropRecipe",
    "FaceQuad",
    "apply_transform",
    "crop_transform",
    "eye_mouth_points",
    "face_quad",
]

#: EG3D's crop relative to FFHQ's one-stage quad (module docstring; ``benchmarks/crop_vs_eg3d.py``).
EG3D_QUAD_SCALE = 1.340
EG3D_CENTER_SHIFT = 0.306


@dataclass(frozen=True)
class CropRecipe:
    """The crop: sizes in pixels (1024 → centre 700 → 512), the quad's scale and the shift of its centre
    along the face (in units of |eye_to_mouth|). Defaults: EG3D's crop; :meth:`ffhq` gives FFHQ's."""

    output_size: int = 512
    transform_size: int = 1024
    crop_size: int = 700
    quad_scale: float = EG3D_QUAD_SCALE
    center_shift: float = EG3D_CENTER_SHIFT

    @classmethod
    def ffhq(cls) -> CropRecipe:
        """FFHQ's own alignment (quad scale 1, centre at eye midpoint + 0.1·eye_to_mouth), then the centre crop."""
        return cls(quad_scale=1.0, center_shift=0.0)

    def quad(self, landmarks: np.ndarray) -> FaceQuad:
        """The crop quad of a face with (68, 2) landmarks under this recipe."""
        return face_quad(landmarks, self.quad_scale, self.center_shift)

    def __post_init__(self) -> None:
        if not (0 < self.crop_size <= self.transform_size) or self.output_size <= 0 or self.quad_scale <= 0:
            raise ValueError(f"invalid crop recipe {self}: need 0 < crop_size <= transform_size, sizes > 0")

    @property
    def quad_side_px(self) -> float:
        """Side of the face quad in output pixels (larger than the output: the crop keeps its centre)."""
        return self.transform_size * self.output_size / self.crop_size

    @property
    def center_px(self) -> float:
        """Output coordinate (x and y) of the quad centre: the image centre."""
        return self.output_size / 2 - 0.5


@dataclass(frozen=True)
class FaceQuad:
    """The oriented crop square in source pixel coordinates: centre, half-side vectors x (right), y (down)."""

    center: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def corners(self) -> np.ndarray:
        """(4, 2): top-left, bottom-left, bottom-right, top-right (FFHQ's order)."""
        c, x, y = self.center, self.x, self.y
        return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])

    @property
    def side(self) -> float:
        return float(2.0 * np.hypot(*self.x))


def eye_mouth_points(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(left eye centre, right eye centre, left mouth corner, right mouth corner) from (68, 2) landmarks.

    Left and right are as seen in the image (FFHQ's naming): the image-left eye and mouth corner are the
    subject's right ones (:data:`helpers.invert.ibug68.RIGHT_EYE`, 36–41, and corner 48).
    """
    lm = ib.as_landmarks(landmarks)
    return (lm[list(ib.RIGHT_EYE)].mean(0), lm[list(ib.LEFT_EYE)].mean(0), lm[ib.RIGHT_MOUTH_CORNER],
            lm[ib.LEFT_MOUTH_CORNER])


def face_quad(landmarks: np.ndarray, quad_scale: float = 1.0, center_shift: float = 0.0) -> FaceQuad:
    """The crop quad of a face from its (68, 2) landmarks (see the module doc; the defaults are FFHQ's quad)."""
    eye_left, eye_right, mouth_left, mouth_right = eye_mouth_points(landmarks)
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) / 2 - eye_avg
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])  # eye_to_mouth rotated by -90°
    norm = np.hypot(*x)
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("degenerate landmarks: eyes and mouth coincide")
    x = x / norm * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8) * quad_scale
    y = np.array([-x[1], x[0]])
    return FaceQuad(center=eye_avg + (0.1 + center_shift) * eye_to_mouth, x=x, y=y)


def crop_transform(quad: FaceQuad, recipe: CropRecipe = CropRecipe()) -> np.ndarray:
    """(3, 3) matrix mapping source pixel coordinates to output pixel coordinates (a similarity).

    Computed in continuous coordinates (index + 0.5), so the quad's corners land on the corners of
    the ``transform_size`` image and its centre on the centre of the output.
    """
    side = quad.side
    scale = recipe.quad_side_px / side
    ux, uy = quad.x / np.hypot(*quad.x), quad.y / np.hypot(*quad.y)
    rotation = np.stack([ux, uy]) * scale  # rows: output axes in source coordinates
    matrix = np.eye(3)
    matrix[:2, :2] = rotation
    # In continuous coordinates (index + 0.5) the quad centre goes to output_size / 2; the ±0.5
    # shifts of both sides cancel into output_size / 2 - 0.5 in index coordinates.
    matrix[:2, 2] = recipe.center_px - rotation @ quad.center
    return matrix


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a (3, 3) affine/similarity matrix."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:2, :2].T + matrix[:2, 2]
