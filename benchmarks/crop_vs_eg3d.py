"""How our one-stage face crop compares with EG3D's own FFHQ crop, face by face.

EG3D's FFHQ images were cropped in two stages: FFHQ's oriented alignment, then Deep3DFaceRecon's
``align_img``. That second step fits five landmarks (eye centres from the eye corners, nose tip, mouth
corners) to the Basel Face Model's standard 3D landmarks under a scaled orthographic projection (a
linear least-squares fit), scales the image by ``300 / s`` (s = the fitted scale), crops 1024² around the
projected model origin, then keeps the centre 700² and resizes it to 512². There is no rotation in that
step: the first stage has already levelled the eyes.

``helpers.invert.crop_recipe`` calibrates two constants of the one-stage recipe on these numbers. This script
applies that second step to the same landmarks our crop uses and prints, for each face:
- our output scale (output pixels per photo pixel) divided by EG3D's;
- the offset between the two crop centres, in output pixels.
A ratio of 1 and an offset of 0 mean that the crops coincide.

The faces are:
- ``skimage.data.astronaut()``, with dlib landmarks;
- our 3D landmark template (``helpers.invert.landmark_template``), seen frontally through EG3D's camera, as an
  average face;
- any photos given with ``--photos``.

It also prints the camera our landmark fit gives the BFM mean face seen from EG3D's frontal camera: the
template's tilt (``helpers.invert.landmark_template.TILT_DEG``) is chosen so that this reads 0°.

The BFM standard landmarks are not part of this project. Point ``--bfm`` at a folder holding
``similarity_Lm3D_all.mat``: Deep3DFaceRecon's ``BFM/`` folder, or its mirror in a checkout of a public
repository that ships it. Nothing from that file is written anywhere.

    python benchmarks/crop_vs_eg3d.py --bfm /path/to/Deep3DFaceReconstruction/BFM [--photos DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's helpers, as the other scripts


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Deep3DFaceRecon's 5 points from 68 (0-based): eye centres as corner means, nose tip, mouth corners."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return np.stack([(lm[36] + lm[39]) / 2, (lm[42] + lm[45]) / 2, lm[30], lm[48], lm[54]])


def orthographic_fit(points2d: np.ndarray, points3d: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares affine camera x = A·X + t (A 2×3). Returns t (2,) and the mean norm of A's rows (the scale)."""
    n = len(points2d)
    design = np.zeros((2 * n, 8))
    design[0::2, 0:3], design[0::2, 3] = points3d, 1
    design[1::2, 4:7], design[1::2, 7] = points3d, 1
    k = np.linalg.lstsq(design, points2d.reshape(-1), rcond=None)[0]
    return np.array([k[3], k[7]]), float((np.linalg.norm(k[0:3]) + np.linalg.norm(k[4:7])) / 2)


def eg3d_crop(landmarks: np.ndarray, height: int, lm3d: np.ndarray, rescale: float = 300.0,
              crop: int = 700, output: int = 512) -> tuple[np.ndarray, float]:
    """EG3D's second-stage crop of a photo: (crop centre in photo pixels (x, y), output px per photo px)."""
    pts = five_points(landmarks)
    pts[:, 1] = height - 1 - pts[:, 1]  # Deep3DFaceRecon works with y up
    t, s = orthographic_fit(pts, lm3d)
    centre = np.array([t[0], height - 1 - t[1]])
    return centre, rescale / s * output / crop


def bfm_mean_landmarks(bfm: Path) -> np.ndarray:
    """(68, 3) float64 mean BFM landmarks from ``similarity_Lm3D_all.mat`` (BFM frame: y up, face towards +z)."""
    from scipy.io import loadmat

    return loadmat(str(bfm / "similarity_Lm3D_all.mat"))["lm"].astype(np.float64)


def compare(name: str, landmarks: np.ndarray, height: int, lm3d: np.ndarray, recipe: Any) -> dict[str, Any]:
    from helpers.invert.crop_recipe import apply_transform, crop_transform

    ours = crop_transform(recipe.quad(landmarks), recipe)
    scale_ours = float(np.linalg.norm(ours[0, :2]))
    centre, scale_eg3d = eg3d_crop(landmarks, height, lm3d)
    # EG3D's crop centre, seen in our output: the offset of the two crops in output pixels.
    offset = apply_transform(ours, centre[None])[0] - recipe.center_px
    return {"face": name, "scale_ratio": scale_ours / scale_eg3d, "dx": float(offset[0]), "dy": float(offset[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bfm", type=Path, required=True, help="folder with similarity_Lm3D_all.mat")
    parser.add_argument("--photos", type=Path, default=None, help="more photos (one face each)")
    args = parser.parse_args()
    from skimage import data

    from helpers.base import cameras
    from helpers.base.cameras import project_points
    from helpers.invert.crop_recipe import CropRecipe
    from helpers.invert.dlib_landmarks import detect_faces
    from helpers.invert.landmark_template import landmark_template

    mean = bfm_mean_landmarks(args.bfm)
    lm3d = five_points(mean)  # the 5 standard 3D landmarks, reduced as the photos' 68
    frontal = cameras.camera_vector(0.0, 0.0)[0].numpy().astype(np.float64)
    faces = [("landmark template (frontal)", project_points(landmark_template(), frontal, 512), 512)]
    photos = [("astronaut", data.astronaut())]
    if args.photos:
        from helpers.base.photo import load_rgb
        from helpers.invert.folder_inversion import list_photos

        photos += [(p.name, load_rgb(p)) for p in list_photos(args.photos)]
    for name, image in photos:
        detected = detect_faces(image)
        if detected:
            faces.append((name, detected[0].landmarks, image.shape[0]))
    print("| recipe | face | our scale / EG3D's | centre offset x, y (output px; + = EG3D's centre right / below ours) |")
    print("|---|---|---:|---|")
    for label, recipe in (("CropRecipe.ffhq()", CropRecipe.ffhq()), ("CropRecipe() (EG3D-calibrated)", CropRecipe())):
        for name, landmarks, height in faces:
            r = compare(name, landmarks, height, lm3d, recipe)
            print(f"| {label} | {r['face']} | {r['scale_ratio']:.3f} | {r['dx']:+.1f}, {r['dy']:+.1f} |")
    print()
    print(frontal_convention(mean, frontal))


def frontal_convention(mean: np.ndarray, frontal: np.ndarray) -> str:
    """The camera our landmark fit gives the (68, 3) BFM mean landmarks seen by the frontal EG3D camera (0, 0 = same
    "frontal")."""
    from helpers.base.cameras import project_points
    from helpers.invert import ibug68 as ib
    from helpers.invert import landmark_template as lt
    from helpers.invert.camera_fit import estimate_camera

    template = lt.landmark_template()

    def eye_distance(p: np.ndarray) -> float:
        # 3D points: crop_recipe.eye_mouth_points takes (68, 2) image landmarks only.
        return float(np.linalg.norm(p[list(ib.RIGHT_EYE)].mean(0) - p[list(ib.LEFT_EYE)].mean(0)))

    # The mean face at the template's size, nose tip on the template's (the BFM frame: y up, face towards +z).
    placed = (mean - mean[ib.NOSE_TIP]) * eye_distance(template) / eye_distance(mean) + template[ib.NOSE_TIP]
    fit = estimate_camera(project_points(placed, frontal, 512))
    return (f"BFM mean face seen by the frontal EG3D camera: fitted yaw {fit.yaw_deg:+.2f}°, "
            f"elevation {fit.elevation_deg:+.2f}° (landmark rms {fit.rms_px:.1f} px)")


if __name__ == "__main__":
    main()
