"""A 3D template of the 68 iBUG/dlib facial landmarks in EG3D world units, built from anthropometry.

The template is an *average adult face*, written down here point by point from published average
proportions (no 3D morphable model, no copied landmark table), then scaled and placed in EG3D's FFHQ
world frame so that the frontal EG3D camera sees it where the FFHQ/EG3D crop puts every face.

**Frame** (as :mod:`helpers.base.cameras`): y up, x towards the image right of the frontal view (the
subject's *left*), the face looks towards +z. Index order is iBUG/dlib: jaw 0–16, brows 17–26, nose
bridge 27–30, nostrils 31–35, eyes 36–47, outer mouth 48–59, inner mouth 60–67; the subject's right
(jaw 0, brow 17, eye 36–41, mouth corner 48) lies on the image left (x < 0).

**Placement.** The millimetre template (exactly left/right symmetric) is scaled isotropically and translated (nose
tip at x = 0, world z = :data:`NOSE_TIP_Z`) so that, projected by the frontal EG3D camera (``orbit_pose(0, 0)``,
radius 2.7, focal 4.2647) into a 512² image, its crop quad (:meth:`helpers.invert.crop_recipe.CropRecipe.quad`,
EG3D's crop) is centred with side ``CropRecipe().quad_side_px`` (≈749 px); the template is tilted by
:data:`TILT_DEG`. This gives ≈ 395 mm per world unit (:func:`template_info`).

Design notes: docs/design/invert.md (landmark_template): the proportions and their sources, depths, placement.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from helpers.base.cameras import FOCAL, PIVOT, RADIUS, camera_from_angles, project_points
from helpers.invert.crop_recipe import CropRecipe
from helpers.invert.ibug68 import MIRROR, NOSE_TIP

__all__ = ["NOSE_TIP_Z", "TEMPLATE_MM", "TILT_DEG", "TemplateInfo", "landmark_template", "template_info"]

#: World z of the nose tip (EG3D units): the frontal camera (z = 2.7) sees it at depth ≈ 2.35.
NOSE_TIP_Z = 0.35
#: Tilt of the template (degrees, about the x axis, positive = face turned up) so that "frontal" means what it
#: means for EG3D's FFHQ cameras: those come from Deep3DFaceRecon poses, where the Basel Face Model's mean face
#: at zero rotation faces the camera. Measured with the BFM's 68 mean landmarks (Deep3DFaceRecon's
#: ``similarity_Lm3D_all.mat``, supplied locally, not part of the project) seen by the frontal EG3D camera: they fit
#: the untilted template at −3.1° elevation, the template tilted by 3.6° at 0.0° (yaw −0.1°).
TILT_DEG = 3.6


# The subject's left half (x >= 0, image right) and the midline, (x, y, z) in millimetres; origin: x on the
# midline, y on the canthal line (eye centres at y ≈ 0), z at the nose tip. The right half is the mirror image.
_HALF_MM: dict[int, tuple[float, float, float]] = {
    # Jaw contour from the chin (8) up to the frontal silhouette at eye level (16).
    8: (0.0, -109.0, -30.0),
    9: (27.0, -100.0, -40.0),
    10: (40.0, -91.0, -53.0),
    11: (50.0, -80.0, -66.0),
    12: (57.0, -67.0, -77.0),
    13: (62.0, -53.0, -85.0),
    14: (65.0, -38.0, -91.0),
    15: (67.0, -23.0, -95.0),
    16: (68.0, -8.0, -98.0),
    # Left brow, medial (22) to lateral (26).
    22: (14.0, 19.0, -22.0),
    23: (24.0, 22.0, -25.0),
    24: (34.0, 22.5, -30.0),
    25: (44.0, 20.5, -37.0),
    26: (52.0, 15.0, -47.0),
    # Nose bridge: sellion (27, the deepest point between the eyes) to the tip (30), a slightly concave dorsum.
    27: (0.0, 4.0, -23.0),
    28: (0.0, -10.0, -16.0),
    29: (0.0, -24.0, -8.0),
    30: (0.0, -38.0, 0.0),
    # Nostrils: subnasale (33) to the left alar base (35).
    33: (0.0, -43.0, -18.0),
    34: (7.5, -42.0, -21.0),
    35: (15.0, -40.0, -27.0),
    # Left eye: inner corner (42), upper lid (43, 44), outer corner (45), lower lid (46, 47).
    42: (16.0, -1.0, -36.0),
    43: (26.0, 4.5, -33.0),
    44: (36.0, 4.2, -36.0),
    45: (46.0, 1.0, -46.0),
    46: (36.0, -3.8, -37.0),
    47: (26.0, -4.0, -34.0),
    # Outer lips: labrale superius (51), cupid's bow (52), left corner (54), lower lip (55-57).
    51: (0.0, -56.0, -15.0),
    52: (7.0, -55.0, -16.0),
    53: (16.0, -58.0, -22.0),
    54: (26.0, -63.5, -31.0),
    55: (16.0, -70.0, -24.0),
    56: (7.0, -72.5, -19.0),
    57: (0.0, -73.0, -18.0),
    # Inner lips of a closed mouth (upper 62-63, inner corner 64, lower 65-66).
    62: (0.0, -63.0, -17.0),
    63: (8.0, -63.0, -18.5),
    64: (23.0, -63.5, -29.0),
    65: (8.0, -65.0, -19.5),
    66: (0.0, -65.0, -18.0),
}


def _template_mm() -> np.ndarray:
    points = np.full((68, 3), np.nan)
    for index, xyz in _HALF_MM.items():
        points[index] = xyz
    for index in range(68):
        if index not in _HALF_MM:
            points[index] = points[MIRROR[index]] * (-1.0, 1.0, 1.0)
    assert np.all(np.isfinite(points))
    return points


#: (68, 3) template in millimetres (frame of this module; origin: midline, canthal line, nose tip depth).
TEMPLATE_MM: np.ndarray = _template_mm()
TEMPLATE_MM.setflags(write=False)


@dataclass(frozen=True)
class TemplateInfo:
    """How the mm template was placed in EG3D world units.

    Attributes:
        mm_per_unit: millimetres per EG3D world unit (isotropic scale).
        depth_span: world-unit extent of the template along z (nose tip to the deepest point).
    """

    mm_per_unit: float
    depth_span: float


def _frontal_quad(points: np.ndarray, image_size: int) -> tuple[np.ndarray, float]:
    camera = camera_from_angles(0.0, 0.0, radius=RADIUS, pivot=PIVOT, focal=FOCAL, dtype=torch.float64).numpy()
    quad = CropRecipe().quad(project_points(points, camera, image_size))
    return quad.center, quad.side


def _tilted(points: np.ndarray, degrees: float) -> np.ndarray:
    """Points rotated about the x axis (through the origin) by ``degrees``: positive turns the face upwards."""
    a = np.radians(degrees)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), np.sin(a)], [0.0, -np.sin(a), np.cos(a)]])
    return points @ rotation.T


@functools.lru_cache(maxsize=1)
def _placed() -> tuple[np.ndarray, TemplateInfo]:
    recipe = CropRecipe()
    size, target_side, target_center = recipe.output_size, recipe.quad_side_px, recipe.center_px
    mm = _tilted(TEMPLATE_MM - TEMPLATE_MM[NOSE_TIP], TILT_DEG)  # nose tip at the origin
    scale, y_offset = 1.0 / 300.0, 0.0  # world units per mm; world y of the nose tip
    for _ in range(50):
        # Fixed point: the quad side is ~ proportional to the scale, its centre ~ linear in the y offset.
        points = mm * scale + (0.0, y_offset, NOSE_TIP_Z)
        center, side = _frontal_quad(points, size)
        if abs(side - target_side) < 1e-9 and abs(center[1] - target_center) < 1e-9:
            break
        scale *= target_side / side
        # Image y points down, world y up; ~ focal·size/depth pixels per world unit near the eyes.
        y_offset += (center[1] - target_center) * (RADIUS - NOSE_TIP_Z) / (FOCAL * size)
    points = mm * scale + (0.0, y_offset, NOSE_TIP_Z)
    points.setflags(write=False)
    info = TemplateInfo(mm_per_unit=float(1.0 / scale), depth_span=float(points[:, 2].max() - points[:, 2].min()))
    return points, info


def landmark_template() -> np.ndarray:
    """(68, 3) float64 template landmarks in EG3D world units and frame (read-only, cached).

    See the module docstring for the proportions and the placement.
    """
    return _placed()[0]


def template_info() -> TemplateInfo:
    """Scale of :func:`landmark_template`: mm per world unit and depth span."""
    return _placed()[1]
