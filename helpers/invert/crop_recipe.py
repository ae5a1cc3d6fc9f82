"""Geometry of the FFHQ/EG3D face crop: an oriented square ("quad") from the eyes and mouth.

The recipe (FFHQ's alignment, as EG3D's in-the-wild preprocessing and LPFF use it, in one stage):

1. From 68 landmarks (dlib/iBUG order): eye centres = means of points 36–41 and 42–47; mouth corners =
   points 48 and 54. ``eye_to_eye`` = right − left eye, ``eye_to_mouth`` = mouth midpoint − eye midpoint.
2. Half-side vector ``x`` = direction of ``eye_to_eye`` rotated towards the face's vertical axis
   (``eye_to_eye − rot90(eye_to_mouth)``), with length ``max(2·|eye_to_eye|, 1.8·|eye_to_mouth|)·quad_scale``;
   ``y = rot90(x)``; centre ``c = eye_midpoint + 0.1·eye_to_mouth``. The quad's side is ``2·|x|``.
3. The quad is resampled to a ``transform_size``² image (1024), whose central ``crop_size``² (700) is
   resized to ``output_size``² (512).

Coordinates are pixel *index* coordinates (the centre of pixel column j is x = j), as dlib returns
them; x to the right, y down. The whole recipe is one similarity transform, :func:`crop_transform`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LEFT_EYE",
    "MOUTH_LEFT",
    "MOUTH_RIGHT",
    "RIGHT_EYE",
    "CropRecipe",
    "FaceQuad",
    "apply_transform",
    "crop_transform",
    "eye_mouth_points",
    "face_quad",
]

#: Landmark indices (0-based, iBUG 68-point order). "Left" is the subject's right eye, on the image's left.
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
MOUTH_LEFT = 48
MOUTH_RIGHT = 54


@dataclass(frozen=True)
class CropRecipe:
    """Sizes of the crop, in pixels. Defaults: EG3D's FFHQ recipe (1024 → centre 700 → 512)."""

    output_size: int = 512
    transform_size: int = 1024
    crop_size: int = 700
    quad_scale: float = 1.0

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
    """(left eye centre, right eye centre, left mouth corner, right mouth corner) from (68, 2) landmarks."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got {lm.shape}")
    return lm[LEFT_EYE].mean(0), lm[RIGHT_EYE].mean(0), lm[MOUTH_LEFT], lm[MOUTH_RIGHT]


def face_quad(landmarks: np.ndarray, quad_scale: float = 1.0) -> FaceQuad:
    """The FFHQ crop quad of a face, from its (68, 2) landmarks (see the module doc)."""
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
    return FaceQuad(center=eye_avg + 0.1 * eye_to_mouth, x=x, y=y)


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
