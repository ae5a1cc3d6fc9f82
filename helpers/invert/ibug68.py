"""The 68 iBUG/dlib facial landmarks: index groups, the left/right permutation, checking and mirroring point sets.

Order (0-based): jaw 0–16, brows 17–26, nose bridge 27–30, nostrils 31–35, eyes 36–47, outer mouth 48–59, inner
mouth 60–67. "Right" is the subject's right, which lies on the image left. Point sets are (68, 2) pixel index
coordinates (column j has its centre at x = j), x right and y down.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "BROWS", "EYES", "INNER_MOUTH", "JAW", "LEFT_EYE", "LEFT_MOUTH_CORNER", "MIRROR", "MOUTH", "NOSE", "NOSE_BRIDGE",
    "NOSE_TIP", "NOSTRILS", "OUTER_MOUTH", "RIGHT_EYE", "RIGHT_MOUTH_CORNER", "as_landmarks", "mirror_landmarks",
]

#: Index groups (iBUG 68-point order, 0-based). "Right" = the subject's right = the image left.
JAW: tuple[int, ...] = tuple(range(17))
BROWS: tuple[int, ...] = tuple(range(17, 27))
NOSE_BRIDGE: tuple[int, ...] = tuple(range(27, 31))
NOSTRILS: tuple[int, ...] = tuple(range(31, 36))
NOSE: tuple[int, ...] = NOSE_BRIDGE + NOSTRILS
RIGHT_EYE: tuple[int, ...] = tuple(range(36, 42))
LEFT_EYE: tuple[int, ...] = tuple(range(42, 48))
EYES: tuple[int, ...] = RIGHT_EYE + LEFT_EYE
OUTER_MOUTH: tuple[int, ...] = tuple(range(48, 60))
INNER_MOUTH: tuple[int, ...] = tuple(range(60, 68))
MOUTH: tuple[int, ...] = OUTER_MOUTH + INNER_MOUTH
NOSE_TIP = 30
RIGHT_MOUTH_CORNER = 48
LEFT_MOUTH_CORNER = 54


def _mirror_permutation() -> np.ndarray:
    pairs = [(i, 16 - i) for i in range(17)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34), (33, 33), (27, 27), (28, 28), (29, 29), (30, 30)]  # nose
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (51, 51), (55, 59), (56, 58), (57, 57)]  # outer mouth
    pairs += [(60, 64), (61, 63), (62, 62), (65, 67), (66, 66)]  # inner mouth
    perm = np.arange(68)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    assert sorted(perm.tolist()) == list(range(68)) and np.all(perm[perm] == np.arange(68))
    return perm


#: Left/right permutation of the 68 indices: point ``i`` of a mirrored face is point ``MIRROR[i]`` of the
#: original (``MIRROR[MIRROR] = identity``).
MIRROR: np.ndarray = _mirror_permutation()
MIRROR.setflags(write=False)


def as_landmarks(landmarks: Any) -> np.ndarray:
    """``landmarks`` as a (68, 2) float64 array (iBUG/dlib order, x and y in pixels), checked to be finite.

    Raises:
        ValueError: not convertible to numbers, not of shape (68, 2), or NaN/infinite values (the message
            names the offending indices).
    """
    try:
        lm = np.asarray(landmarks, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"landmarks must be a (68, 2) array of pixel coordinates, got {type(landmarks).__name__}"
                         ) from None
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2) (iBUG/dlib order, x and y in pixels), got {lm.shape}")
    if not np.all(np.isfinite(lm)):
        bad = np.flatnonzero(~np.all(np.isfinite(lm), axis=1)).tolist()
        raise ValueError(f"landmarks hold NaN or infinite values at indices {bad}; detect the face again")
    return lm


def mirror_landmarks(landmarks: np.ndarray, image_size: int) -> np.ndarray:
    """(68, 2) landmarks of the horizontally flipped image: ``x → W − 1 − x`` and left/right indices swapped.

    Coordinates are pixel index coordinates (column j has its centre at x = j); ``image_size`` is W.
    """
    lm = as_landmarks(landmarks)
    flipped = lm[MIRROR].copy()
    flipped[:, 0] = image_size - 1 - flipped[:, 0]
    return flipped
