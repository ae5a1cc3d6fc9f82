"""Offline face detection and 68 facial landmarks with dlib (the landmarks FFHQ, EG3D and LPFF align with).

dlib is optional: ``pip install dlib-bin face_recognition_models`` (or the project's extra
``eg3d-face-toolkit[face]``). The models are the files of the ``face_recognition_models`` package, found
without importing it (its ``__init__`` needs ``pkg_resources``, which recent environments lack), or in the
folder (or the ``.dat`` file) named by the environment variable ``HELPERS_DLIB_MODELS``.

Conventions: images are (H, W, 3) uint8 RGB; coordinates are pixel *index* coordinates (the centre of
pixel column j is x = j), x to the right, y down, as dlib returns them. Landmarks are in the iBUG
68-point order (0–16 jaw, 17–26 brows, 27–35 nose, 36–47 eyes, 48–67 mouth).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["INSTALL_HINT", "MODELS_ENV", "PREDICTOR_FILE", "DetectedFace", "FaceModelsMissingError",
           "detect_faces", "predict_landmarks", "predictor_path"]

#: Environment variable naming a folder holding ``PREDICTOR_FILE`` (or the file itself).
MODELS_ENV = "HELPERS_DLIB_MODELS"
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
INSTALL_HINT = "pip install dlib-bin face_recognition_models  (or: pip install 'eg3d-face-toolkit[face]')"

_LOCK = threading.Lock()
_DETECTOR: Any = None
_PREDICTORS: dict[Path, Any] = {}


class FaceModelsMissingError(ImportError):
    """dlib or its 68-landmark model file is not installed; the message says what to install."""


@dataclass(frozen=True)
class DetectedFace:
    """One face found in a photo.

    Attributes:
        box: (x0, y0, x1, y1) detector box in source pixels; its edges lie half a pixel outside the
            first and last covered pixel centres, so ``x1 - x0`` is the box width in pixels.
        landmarks: (68, 2) float64, iBUG order, pixel index coordinates (x right, y down).
        score: dlib HOG detector confidence (clear frontal faces score above ~1; > 0 counts as a face).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float

    @property
    def size(self) -> float:
        """Side of the (square) detector box in pixels: the mean of its width and height."""
        x0, y0, x1, y1 = self.box
        return 0.5 * ((x1 - x0) + (y1 - y0))


def _missing(what: str) -> FaceModelsMissingError:
    return FaceModelsMissingError(f"{what}. Face detection needs dlib and its landmark model: {INSTALL_HINT}")


def predictor_path(override: str | os.PathLike[str] | None = None) -> Path:
    """The 68-landmark model file: ``override``, else ``$HELPERS_DLIB_MODELS``, else the installed
    ``face_recognition_models`` package. Each may name the ``.dat`` file or the folder holding it.

    Raises:
        FaceModelsMissingError: no model file at the chosen place (the message names it).
    """
    location = override if override is not None else os.environ.get(MODELS_ENV) or None
    if location is not None:
        path = Path(location).expanduser()
        candidate = path / PREDICTOR_FILE if path.is_dir() else path
        if not candidate.is_file():
            source = "the given path" if override is not None else f"${MODELS_ENV}"
            raise _missing(f"{PREDICTOR_FILE} not found at {candidate} ({source}; unset it to use the installed "
                           "face_recognition_models package)")
        return candidate
    spec = importlib.util.find_spec("face_recognition_models")  # does not run the package's __init__
    if spec is None or not spec.submodule_search_locations:
        raise _missing("the face_recognition_models package (dlib's model files) is not installed")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "models" / PREDICTOR_FILE
        if candidate.is_file():
            return candidate
    raise _missing(f"face_recognition_models is installed but has no models/{PREDICTOR_FILE}")


def _dlib() -> Any:
    try:
        return importlib.import_module("dlib")
    except ImportError as error:
        raise _missing(f"dlib is not installed ({error})") from error


def _models(model: str | os.PathLike[str] | None) -> tuple[Any, Any]:
    """(detector, predictor), loaded once per process (the predictor takes ~1 s to read)."""
    global _DETECTOR
    path = predictor_path(model).resolve()
    dlib = _dlib()
    with _LOCK:
        if _DETECTOR is None:
            _DETECTOR = dlib.get_frontal_face_detector()
        if path not in _PREDICTORS:
            _PREDICTORS[path] = dlib.shape_predictor(str(path))
        return _DETECTOR, _PREDICTORS[path]


def _check_image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8 or 0 in array.shape:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {array.shape} dtype {array.dtype} "
                         "(use helpers.base.photo.load_rgb to read any photo)")
    return np.ascontiguousarray(array)


def _shrunk(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """The image resized (antialiased) to at most ``max_side`` pixels, and the x/y scale factors used."""
    height, width = image.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return image, 1.0, 1.0
    from PIL import Image

    factor = max_side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
    return small, size[0] / width, size[1] / height


def _predict(dlib: Any, predictor: Any, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(68, 2) landmarks in ``box`` with an already loaded predictor; ``image`` already checked."""
    x0, y0, x1, y1 = box
    # Box edges → dlib's inclusive integer pixel bounds.
    rect = dlib.rectangle(round(x0 + 0.5), round(y0 + 0.5), round(x1 - 0.5), round(y1 - 0.5))
    with _LOCK:
        shape = predictor(image, rect)
    return np.array([(point.x, point.y) for point in shape.parts()], dtype=np.float64)


def predict_landmarks(image: np.ndarray, box: tuple[float, float, float, float], *,
                      model: str | os.PathLike[str] | None = None) -> np.ndarray:
    """(68, 2) float64 landmarks of the face in ``box`` (as :attr:`DetectedFace.box`), full resolution."""
    image = _check_image(image)
    _, predictor = _models(model)
    return _predict(_dlib(), predictor, image, box)


def detect_faces(image: np.ndarray, *, upsample: int = 1, max_side: int | None = 1024,
                 model: str | os.PathLike[str] | None = None) -> list[DetectedFace]:
    """All faces dlib's HOG detector finds, with 68 landmarks each, largest box first.

    Args:
        image: (H, W, 3) uint8 RGB.
        upsample: times the detector doubles the image first; each doubling halves the smallest face it
            finds (about 80 px boxes at 0, 40 px at 1, 20 px at 2) and costs about 4× the time.
        max_side: detect on a copy shrunk to at most this many pixels per side (the detector's cost grows
            with the pixel count); ``None`` detects at full size. Landmarks are always predicted on the
            full-resolution image.
        model: the 68-landmark model file or folder (default: see :func:`predictor_path`).

    Raises:
        FaceModelsMissingError: dlib or the model file is not installed.
    """
    image = _check_image(image)
    if upsample < 0:
        raise ValueError(f"upsample must be >= 0, got {upsample}")
    detector, predictor = _models(model)
    dlib = _dlib()
    small, fx, fy = _shrunk(image, max_side)
    with _LOCK:
        # 0.0: dlib's own detection threshold (AlignConfig.min_score filters later).
        rects, scores, _ = detector.run(small, int(upsample), 0.0)
    faces = []
    for rect, score in zip(rects, scores):
        # Box edges (left - 0.5, right + 0.5) in the shrunk image → full resolution, in index
        # coordinates: x_full = (x_small + 0.5) / f - 0.5.
        box = (rect.left() / fx - 0.5, rect.top() / fy - 0.5,
               (rect.right() + 1) / fx - 0.5, (rect.bottom() + 1) / fy - 0.5)
        faces.append(DetectedFace(box=box, landmarks=_predict(dlib, predictor, image, box), score=float(score)))
    return sorted(faces, key=lambda face: -face.size)
