"""Crop a photo to the FFHQ/EG3D face frame: detect the face, find 68 landmarks, warp the oriented quad.

The geometry is :mod:`helpers.invert.crop_recipe` (one similarity transform from source pixels to output
pixels); this module picks the face, checks it, and resamples the photo well:

- a crop that shrinks the photo is pre-shrunk with an antialiasing (Lanczos) filter to the output scale,
  so the final bicubic warp neither aliases nor blurs twice;
- where the quad extends beyond the photo, the missing area is filled according to ``AlignConfig.padding``
  (default: FFHQ's choice, a mirror image of the photo, blurred and faded to the photo's median colour
  further from the border, so that no sharp mirrored features or hard edges appear in the crop).

Coordinates are pixel index coordinates (the centre of pixel column j is x = j), x right, y down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from helpers.base.photo import load_rgb, resize_square
from helpers.invert.crop_recipe import CropRecipe, apply_transform, crop_transform, eye_mouth_points
from helpers.invert.dlib_landmarks import DetectedFace, detect_faces
from helpers.invert.ibug68 import as_landmarks

__all__ = ["AlignConfig", "AlignedFace", "AlignmentError", "FaceTooSmallError", "MultipleFacesError", "align_crop",
           "NoFaceError", "Padding", "align_face", "draw_landmarks", "select_face", "warp_to_crop"]

Padding = Literal["reflect_blur", "reflect", "edge", "black"]
_PADDINGS: tuple[str, ...] = get_args(Padding)


class AlignmentError(ValueError):
    """The photo cannot be aligned: no usable face, or an ambiguous choice."""


class NoFaceError(AlignmentError):
    """The detector found no face."""


class MultipleFacesError(AlignmentError):
    """Several faces were found and ``AlignConfig.face == "only"``."""


class FaceTooSmallError(AlignmentError):
    """The chosen face is smaller than ``AlignConfig.min_eye_distance``."""


@dataclass(frozen=True)
class AlignConfig:
    """How to choose, check and crop the face.

    Attributes:
        recipe: crop sizes (default: EG3D's FFHQ crop, 512² output).
        face: which detected face: ``"largest"`` (the largest detector box), ``"only"`` (error when there are
            several), or an index into the largest-first list (negative indices count from the end).
        min_eye_distance: smallest accepted distance between the eye centres, in source pixels; smaller
            faces would be upscaled into a blurry crop (the default output has ~140 px between the eyes).
        min_score: detections scoring below this are ignored when at least one face scores at least this
            (dlib's HOG detector fires at scores near 0–0.3 on round face-like patterns, e.g. the mission
            patch in skimage's astronaut photo, while clear faces score above 1). When every detection
            scores below it they are all kept, so a hard but lone face is still found.
        upsample: detector upsampling (see :func:`detect_faces`); 2 finds faces down to ~20 px, 4× slower.
        max_detect_side: detect on a copy shrunk to this side (``None``: full size).
        padding: fill for the parts of the quad outside the photo: ``"reflect_blur"`` (FFHQ: mirrored, blurred
            and faded to the median colour away from the border), ``"reflect"``, ``"edge"`` (repeat the border
            pixels) or ``"black"``.
    """

    recipe: CropRecipe = field(default_factory=CropRecipe)
    face: str | int = "largest"
    min_eye_distance: float = 16.0
    min_score: float = 0.5
    upsample: int = 1
    max_detect_side: int | None = 1024
    padding: Padding = "reflect_blur"

    def __post_init__(self) -> None:
        is_index = isinstance(self.face, (int, np.integer)) and not isinstance(self.face, bool)
        if not (is_index or self.face in ("largest", "only")):
            raise ValueError(f"face must be 'largest', 'only' or an int index, got {self.face!r}")
        if self.padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}, got {self.padding!r}")
        if self.upsample < 0 or self.min_eye_distance < 0:
            raise ValueError(f"upsample and min_eye_distance must be >= 0, got {self.upsample}, "
                             f"{self.min_eye_distance}")


@dataclass(frozen=True)
class AlignedFace:
    """A face cropped to the FFHQ/EG3D frame.

    Attributes:
        image: (S, S, 3) uint8, S = ``recipe.output_size``.
        landmarks: (68, 2) landmarks in output pixel coordinates (``transform`` applied to ``source_landmarks``).
        source_landmarks: (68, 2) landmarks in source pixel coordinates.
        transform: (3, 3) similarity mapping source pixel coordinates to output pixel coordinates.
        quad: (4, 2) quad corners in source coordinates (top-left, bottom-left, bottom-right, top-right).
        box: (x0, y0, x1, y1) detector box in source pixels (the landmarks' bounding box when landmarks
            were given).
        num_faces: faces considered (after the ``min_score`` filter); 1 when landmarks were given.
        face_index: index of the chosen face in the largest-first list.
        source_size: (H, W) of the (upright) source photo.
        score: detector score of the chosen face (``nan`` when landmarks were given).
    """

    image: np.ndarray
    landmarks: np.ndarray
    source_landmarks: np.ndarray
    transform: np.ndarray
    quad: np.ndarray
    box: tuple[float, float, float, float]
    num_faces: int
    face_index: int
    source_size: tuple[int, int]
    score: float = float("nan")

    @property
    def scale(self) -> float:
        """Output pixels per source pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.transform[:2, :2]))))


# --------------------------------------------------------------------------------------------
# Choosing the face
# --------------------------------------------------------------------------------------------


def _describe(faces: Sequence[DetectedFace]) -> str:
    return "; ".join(f"[{index}] box ({', '.join(f'{v:.0f}' for v in face.box)}) size {face.size:.0f} px "
                     f"score {face.score:.2f}" for index, face in enumerate(faces))


def _no_face_message(source_size: tuple[int, int], config: AlignConfig) -> str:
    height, width = source_size
    hints = [(f"the photo ({width}×{height} px) has no face dlib's frontal detector can see. Use a photo with a "
              "clearly visible, roughly frontal face (within ~45° of frontal)")]
    smallest = 80 / 2 ** config.upsample
    if config.max_detect_side is not None and max(height, width) > config.max_detect_side:
        smallest *= max(height, width) / config.max_detect_side
        hints.append(f"detection ran on a copy shrunk to {config.max_detect_side} px, so faces under ~"
                     f"{smallest:.0f} px are missed: raise AlignConfig.max_detect_side or crop the photo around "
                     "the face")
    else:
        hints.append(f"faces under ~{smallest:.0f} px are missed: try AlignConfig(upsample={config.upsample + 1}) "
                     "or a larger photo")
    hints.append("or pass 68 landmarks yourself: align_face(photo, landmarks=...)")
    return "; ".join(hints)


def select_face(faces: Sequence[DetectedFace], config: AlignConfig = AlignConfig(), *,
                source_size: tuple[int, int] = (0, 0)) -> tuple[int, list[DetectedFace]]:
    """(index of the chosen face, the faces considered, largest first), applying ``min_score`` and ``face``.

    Raises:
        NoFaceError, MultipleFacesError, AlignmentError (index out of range).
    """
    faces = sorted(faces, key=lambda face: -face.size)
    confident = [face for face in faces if face.score >= config.min_score]
    faces = confident or faces
    if not faces:
        raise NoFaceError("no face found: " + _no_face_message(source_size, config))
    if config.face == "largest":
        return 0, faces
    if config.face == "only":
        if len(faces) > 1:
            raise MultipleFacesError(
                f"{len(faces)} faces found where exactly one was expected (face='only'): {_describe(faces)}. "
                "Pick one with AlignConfig(face=INDEX) (0 = largest), use face='largest', or crop the photo; "
                f"if some are not faces, raise AlignConfig(min_score=...) (now {config.min_score})")
        return 0, faces
    index = int(config.face)
    if not -len(faces) <= index < len(faces):
        raise AlignmentError(f"face index {index} is out of range: {len(faces)} face(s) found: {_describe(faces)}. "
                             f"Use an index from 0 to {len(faces) - 1}")
    return index % len(faces), faces


def _check_size(landmarks: np.ndarray, transform: np.ndarray, config: AlignConfig) -> None:
    """Raise FaceTooSmallError when the eye centres are closer than ``min_eye_distance`` source pixels.

    ``transform`` is the crop's source → output similarity; its scale is the enlargement quoted in the message.
    """
    eye_left, eye_right, _, _ = eye_mouth_points(landmarks)
    distance = float(np.hypot(*(eye_right - eye_left)))
    if distance < config.min_eye_distance:
        enlargement = float(np.sqrt(abs(np.linalg.det(transform[:2, :2]))))
        raise FaceTooSmallError(
            f"the face is too small: its eyes are {distance:.1f} px apart in the photo, below "
            f"min_eye_distance = {config.min_eye_distance:g} px (the {config.recipe.output_size}² crop would be "
            f"a ~{enlargement:.0f}× enlargement, too blurry for inversion). Use a higher-resolution photo, or lower "
            "AlignConfig(min_eye_distance=...) to accept it")


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------


def _translation(dx: float, dy: float) -> np.ndarray:
    matrix = np.eye(3)
    matrix[:2, 2] = dx, dy
    return matrix


def _index_scale(fx: float, fy: float) -> np.ndarray:
    """Index-coordinate map of a resize by (fx, fy): x' = (x + 0.5)·fx − 0.5."""
    return np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])


def _pad(image: np.ndarray, pads: tuple[int, int, int, int], mode: Padding, quad_side: float) -> np.ndarray:
    """Pad (left, top, right, bottom) pixels; ``reflect_blur`` fades the mirror to blur and median colour
    over distances proportional to ``quad_side`` (the face quad's side in this image's pixels)."""
    left, top, right, bottom = pads
    widths = ((top, bottom), (left, right), (0, 0))
    if mode == "black":
        return np.pad(image, widths, mode="constant")
    padded = np.pad(image, widths, mode="edge" if mode == "edge" else "symmetric")
    if mode != "reflect_blur":
        return padded
    from PIL import Image, ImageFilter

    height, width = image.shape[:2]
    # Distance of each padded pixel from the photo relative to 30% of the quad side (FFHQ's least padding).
    dx = np.maximum(np.maximum(left - np.arange(padded.shape[1]), np.arange(padded.shape[1]) - (left + width - 1)), 0)
    dy = np.maximum(np.maximum(top - np.arange(padded.shape[0]), np.arange(padded.shape[0]) - (top + height - 1)), 0)
    fade = (np.hypot(dx[None, :], dy[:, None]) / (0.3 * quad_side))[..., None].astype(np.float32)
    blur = ImageFilter.GaussianBlur(max(0.02 * quad_side, 0.5))
    blurred = np.asarray(Image.fromarray(padded).filter(blur), np.float32)
    result = padded.astype(np.float32)
    result += (blurred - result) * np.clip(3.0 * fade, 0.0, 1.0)  # fully blurred from 10% of the side out
    median = np.median(image.reshape(-1, 3), axis=0).astype(np.float32)
    result += (median - result) * np.clip(fade, 0.0, 1.0)  # and faded to the median colour further out
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)


def warp_to_crop(image: np.ndarray, transform: np.ndarray, size: int, *, padding: Padding = "reflect_blur",
                 quad_side_px: float | None = None) -> np.ndarray:
    """Resample an (H, W, 3) uint8 image into a (size, size, 3) crop; ``transform`` maps source → output.

    Only the source region the crop needs is read. When the transform shrinks (scale < 1) the region is
    first resized to the output scale with a Lanczos filter (antialiasing), then warped with bicubic
    interpolation. ``quad_side_px``: the face quad's side in output pixels (default: that of
    ``CropRecipe(output_size=size)``),
    which sets the ``reflect_blur`` padding's scale: blurred (σ = 2% of the side, as FFHQ) from 10% of the
    side outside the photo, and the median colour at 30%.
    """
    from PIL import Image

    height, width = image.shape[:2]
    scale = float(np.sqrt(abs(np.linalg.det(transform[:2, :2]))))
    inverse = np.linalg.inv(transform)
    # Source bounding box of the output square, with room for the filters' support (~3 output pixels).
    corners = np.array([[-0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5], [size - 0.5, -0.5]])
    source = apply_transform(inverse, corners)
    margin = 4.0 / min(scale, 1.0)
    x0, y0 = np.floor(source.min(0) - margin).astype(int)
    x1, y1 = np.ceil(source.max(0) + margin).astype(int) + 1
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if ix0 >= ix1 or iy0 >= iy1:
        raise AlignmentError("the face crop lies entirely outside the photo: check the landmarks' coordinates "
                             "(pixels, x right, y down)")
    region = image[iy0:iy1, ix0:ix1]
    to_region = _translation(-ix0, -iy0)
    fx = fy = 1.0
    if scale < 1.0:
        new_size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
        fx, fy = new_size[0] / region.shape[1], new_size[1] / region.shape[0]
        region = np.asarray(Image.fromarray(region).resize(new_size, Image.Resampling.LANCZOS))
        to_region = _index_scale(fx, fy) @ to_region
    pads = (int(np.ceil((ix0 - x0) * fx)), int(np.ceil((iy0 - y0) * fy)),
            int(np.ceil((x1 - ix1) * fx)), int(np.ceil((y1 - iy1) * fy)))
    if max(pads) > 0:
        # The region has the output's scale when shrinking, the source's when enlarging.
        quad_side = CropRecipe(output_size=size).quad_side_px if quad_side_px is None else quad_side_px
        side = quad_side / max(scale, 1.0)
        region = _pad(np.ascontiguousarray(region), pads, padding, side)
        to_region = _translation(pads[0], pads[1]) @ to_region
    # Output index → region index; PIL's AFFINE maps output *continuous* coordinates (index + 0.5) to input
    # continuous coordinates, hence the ±0.5 shifts.
    backward = to_region @ inverse
    linear, offset = backward[:2, :2], backward[:2, 2]
    offset = offset - linear.sum(1) * 0.5 + 0.5
    coefficients = (linear[0, 0], linear[0, 1], offset[0], linear[1, 0], linear[1, 1], offset[1])
    warped = Image.fromarray(np.ascontiguousarray(region)).transform(
        (size, size), Image.Transform.AFFINE, coefficients, Image.Resampling.BICUBIC)
    return np.asarray(warped).copy()


# --------------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------------


def align_face(photo: Any, config: AlignConfig = AlignConfig(), *, landmarks: np.ndarray | None = None,
               faces: Sequence[DetectedFace] | None = None) -> AlignedFace:
    """Detect the face in ``photo`` and crop it to the FFHQ/EG3D frame.

    Args:
        photo: a path, a PIL image or an array (see :func:`helpers.base.photo.load_rgb`: EXIF orientation,
            grey, alpha over white and 16-bit images are handled).
        config: face choice, checks, crop sizes and padding.
        landmarks: (68, 2) iBUG landmarks in source pixels: skip detection (e.g. from another detector).
        faces: detections of this photo from :func:`detect_faces` (e.g. to align each face of a group photo
            without detecting again); ``config.face`` and ``config.min_score`` still apply.

    Raises:
        NoFaceError, MultipleFacesError, FaceTooSmallError (all :class:`AlignmentError`, a ``ValueError``):
            the message says what was wrong and what to do.
        ValueError: the photo is not a readable image. FileNotFoundError: the path does not exist.
        FaceModelsMissingError (an ``ImportError``): dlib or its model is not installed.
    """
    rgb = load_rgb(photo)  # its errors name the file
    source_size = (int(rgb.shape[0]), int(rgb.shape[1]))
    if landmarks is not None:
        points = as_landmarks(landmarks)
        low, high = points.min(0), points.max(0)
        box, num_faces, index, score = (low[0], low[1], high[0], high[1]), 1, 0, float("nan")
    else:
        if faces is None:
            faces = detect_faces(rgb, upsample=config.upsample, max_side=config.max_detect_side)
        index, candidates = select_face(faces, config, source_size=source_size)
        chosen = candidates[index]
        points, box, num_faces, score = chosen.landmarks, chosen.box, len(candidates), chosen.score
    quad = config.recipe.quad(points)
    transform = crop_transform(quad, config.recipe)
    _check_size(points, transform, config)
    image = warp_to_crop(rgb, transform, config.recipe.output_size, padding=config.padding,
                         quad_side_px=config.recipe.quad_side_px)
    return AlignedFace(image=image, landmarks=apply_transform(transform, points), source_landmarks=points.copy(),
                       transform=transform, quad=quad.corners, box=tuple(float(v) for v in box),  # type: ignore
                       num_faces=num_faces, face_index=index, source_size=source_size, score=score)


def align_crop(crop: Any, config: AlignConfig = AlignConfig(), *, landmarks: np.ndarray | None = None) -> AlignedFace:
    """An :class:`AlignedFace` for a photo that already is an FFHQ/EG3D crop (e.g. an FFHQ or Prosopo image): the
    face is detected (or ``landmarks`` given) only for its landmarks, and the crop is kept as it is, resized to
    ``config.recipe.output_size`` when its side differs; the quad is the crop's own square. Non-square crops are
    refused. Raises as :func:`align_face`."""
    rgb = load_rgb(crop)
    height, width = rgb.shape[:2]
    if height != width:
        raise AlignmentError(f"an aligned crop is square, got {width}×{height} pixels; leave out --aligned (or "
                             "aligned=True) to detect and crop the face")
    if landmarks is not None:
        points = as_landmarks(landmarks)
        low, high = points.min(0), points.max(0)
        box, num_faces, index, score = (low[0], low[1], high[0], high[1]), 1, 0, float("nan")
    else:
        faces = detect_faces(rgb, upsample=config.upsample, max_side=config.max_detect_side)
        index, candidates = select_face(faces, config, source_size=(height, width))
        chosen = candidates[index]
        points, box, num_faces, score = chosen.landmarks, chosen.box, len(candidates), chosen.score
    size = config.recipe.output_size
    scale = size / width
    transform = np.array([[scale, 0.0, 0.5 * scale - 0.5], [0.0, scale, 0.5 * scale - 0.5], [0.0, 0.0, 1.0]])
    image = rgb if width == size else resize_square(rgb, size)
    corners = np.array([[-0.5, -0.5], [-0.5, height - 0.5], [width - 0.5, height - 0.5], [width - 0.5, -0.5]])
    return AlignedFace(image=image, landmarks=apply_transform(transform, points), source_landmarks=points.copy(),
                       transform=transform, quad=corners, box=tuple(float(v) for v in box),  # type: ignore[arg-type]
                       num_faces=num_faces, face_index=index, source_size=(height, width), score=score)


def draw_landmarks(image: Any, landmarks: np.ndarray, *, radius: float | None = None,
                   color: tuple[int, int, int] = (0, 255, 0), centers: bool = True,
                   center_color: tuple[int, int, int] = (255, 0, 0)) -> np.ndarray:
    """A copy of ``image`` with the (68, 2) landmarks drawn as small dots (for notebooks).

    ``radius``: dot radius in pixels (default: ~0.4% of the image side, at least 1). ``centers``: also draw the
    eye centres and the mouth centre (the points the crop is built from) in ``center_color``.
    """
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(load_rgb(image))
    points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    r = max(1.0, 0.004 * max(canvas.size)) if radius is None else float(radius)
    draw = ImageDraw.Draw(canvas)

    def dot(x: float, y: float, fill: tuple[int, int, int], size: float) -> None:
        draw.ellipse((x - size, y - size, x + size, y + size), fill=fill)

    for x, y in points:
        dot(x, y, color, r)
    if centers and points.shape == (68, 2):
        eye_left, eye_right, mouth_left, mouth_right = eye_mouth_points(points)
        for x, y in (eye_left, eye_right, (mouth_left + mouth_right) / 2):
            dot(x, y, center_color, 1.5 * r)
    return np.asarray(canvas).copy()
