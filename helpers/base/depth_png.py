"""Depth maps as PNG files: the toolkit's 16-bit metric format and the original's 8-bit one.

**16-bit format** (docs/data-formats.md, ``depth/<id>.png``): single-channel 16-bit grayscale holding
camera-space z-depth in EG3D world units, linear between a fixed ``near`` and ``far`` (stored
in the dataset's meta.json): value 0 = no surface, otherwise
``1 + round((z − near) / (far − near) · 65534)`` with z clipped to [near, far]. The step is
(far − near)/65534 world units, so decoding is accurate to half a step.

**Legacy 8-bit format** (the original project's data and Prosopo): depth normalised per image,
so it carries no metric scale. EG3D's depth export negates depth before normalising, so
**bright = near**; we assume that polarity. :func:`read_legacy_depth_png` maps an image to
[-1, 1], 1 = nearest, as the original did: ``"fixed"`` ``x/255·2 − 1`` (its training and evaluation: MiDaS's
normalisation with mean = std = 0.5) or ``"per_image"`` ``2·(x − min)/(max − min) − 1`` (its mesh reader).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from helpers.base.atomic import write_png_atomic

#: Largest stored code; codes 1..65535 cover [near, far].
_MAX_CODE = 65535
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


def _check_range(near: float, far: float) -> tuple[float, float]:
    near, far = float(near), float(far)
    if not (np.isfinite(near) and np.isfinite(far) and 0 < near < far):
        raise ValueError(f"depth range must satisfy 0 < near < far, got near={near}, far={far}")
    return near, far


def valid_depth(depth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The toolkit's depth-map convention: a pixel has a surface when its depth is finite and
    > 0 and ``mask`` (optional, same shape) is true. Returns an (H, W) bool array."""
    depth = np.asarray(depth)
    valid = np.isfinite(depth) & (depth > 0)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != depth.shape:
            raise ValueError(f"mask shape {mask.shape} does not match depth shape {depth.shape}")
        valid &= mask.astype(bool)
    return valid


def _as_depth_map(depth: np.ndarray) -> np.ndarray:
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"depth must be an (H, W) map, got shape {depth.shape}")
    return depth


def encode_depth_png(
    depth: np.ndarray, near: float, far: float, mask: np.ndarray | None = None
) -> np.ndarray:
    """(H, W) z-depth (world units) → (H, W) uint16 codes of the 16-bit format.

    0 where there is no surface (depth <= 0, NaN/inf, or ``mask`` False); valid depths are
    clipped to [near, far] and quantised linearly to 1..65535.
    """
    near, far = _check_range(near, far)
    depth = _as_depth_map(depth)
    valid = valid_depth(depth, mask)
    scaled = (np.clip(np.where(valid, depth, near), near, far) - near) / (far - near)
    codes = 1 + np.rint(scaled * (_MAX_CODE - 1))
    return np.where(valid, codes, 0).astype(np.uint16)


def decode_depth_png(values: np.ndarray, near: float, far: float) -> np.ndarray:
    """(H, W) uint16 codes → float32 z-depth in world units, 0.0 where there is no surface."""
    near, far = _check_range(near, far)
    codes = np.asarray(values)
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"depth codes must be integers (uint16), got dtype {codes.dtype}")
    codes = codes.astype(np.float64)
    depth = near + (codes - 1) / (_MAX_CODE - 1) * (far - near)
    return np.where(codes > 0, depth, 0.0).astype(np.float32)


def write_depth_png(
    path: str | os.PathLike[str],
    depth: np.ndarray,
    near: float,
    far: float,
    mask: np.ndarray | None = None,
) -> Path:
    """Encode ``depth`` (see :func:`encode_depth_png`) and write a 16-bit PNG atomically."""
    return write_png_atomic(path, encode_depth_png(depth, near, far, mask))


def _png_header(path: Path) -> tuple[int, str]:
    """(bit depth, colour type name) from the PNG IHDR chunk.

    Read directly because Pillow silently reduces 16-bit RGB(A) PNGs to 8 bits per channel.
    """
    if not path.is_file():
        raise FileNotFoundError(f"depth PNG not found: {path}")
    with open(path, "rb") as handle:
        head = handle.read(29)
    if len(head) < 29 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG file")
    bit_depth, color_type = struct.unpack(">BB", head[24:26])
    return bit_depth, _PNG_COLOR_TYPES.get(color_type, f"colour type {color_type}")


def _open_png(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image)
    except Exception as error:  # truncated/corrupt data raise OSError, SyntaxError, ...
        raise ValueError(f"{path} could not be read as a PNG image: {error}") from error


def read_depth_png(path: str | os.PathLike[str], near: float, far: float) -> np.ndarray:
    """Read a 16-bit depth PNG → float32 z-depth in world units (0.0 = no surface).

    ``near``/``far`` must be the values it was written with (dataset meta.json).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a PNG, not 16-bit (e.g. the original project's 8-bit per-image
            normalised depth: use :func:`read_legacy_depth_png`), or more than one channel.
    """
    near, far = _check_range(near, far)
    path = Path(path)
    bit_depth, color = _png_header(path)
    if bit_depth != 16:
        raise ValueError(
            f"{path} is {'an' if bit_depth == 8 else 'a'} {bit_depth}-bit {color} image, but a "
            "16-bit grayscale depth PNG is "
            "expected; 8-bit depth from the original project is normalised per image, read it "
            "with helpers.base.depth_png.read_legacy_depth_png"
        )
    if color != "grayscale":
        raise ValueError(
            f"{path} is a 16-bit {color} image, but a single-channel 16-bit grayscale depth "
            "PNG is expected"
        )
    codes = _open_png(path)
    return decode_depth_png(codes.astype(np.uint16), near, far)


#: How an 8-bit legacy map becomes [-1, 1]: the original's evaluation ("fixed") or its mesh reader ("per_image").
LEGACY_MAPPINGS = ("fixed", "per_image")


def read_legacy_depth_values(path: str | os.PathLike[str]) -> np.ndarray:
    """The original project's 8-bit depth PNG as stored: (H, W) uint8, bright = near. Grayscale, RGB or RGBA
    (palette images are expanded first); the first channel is used."""
    path = Path(path)
    bit_depth, color = _png_header(path)
    if bit_depth > 8:
        raise ValueError(
            f"{path} is a {bit_depth}-bit {color} image; the legacy depth format is 8-bit. "
            "16-bit depth PNGs of this toolkit are read with helpers.base.depth_png.read_depth_png"
        )
    if color == "palette":
        from PIL import Image

        with Image.open(path) as image:
            values = np.asarray(image.convert("RGB"))
    else:
        values = _open_png(path)
    return np.ascontiguousarray(values[..., 0] if values.ndim == 3 else values).astype(np.uint8)


def legacy_depth_from_values(values: np.ndarray, mapping: str = "fixed") -> np.ndarray:
    """(H, W) float32 in [-1, 1], 1 = nearest, from 8-bit values (:data:`LEGACY_MAPPINGS`).

    ``"fixed"``: ``x/255·2 − 1``, what the original's training and evaluation fed the networks (the ground truth of
    its published L1). ``"per_image"``: ``2·(x − min)/(max − min) − 1``, what its depth → mesh reader did (a
    constant image gives zeros). The two agree only on maps that span 0…255.
    """
    if mapping not in LEGACY_MAPPINGS:
        raise ValueError(f"legacy depth mapping must be one of {LEGACY_MAPPINGS}, got {mapping!r}")
    channel = np.asarray(values, dtype=np.float64)
    if mapping == "fixed":
        return (channel / 255.0 * 2 - 1).astype(np.float32)
    low, high = channel.min(), channel.max()
    if high == low:
        return np.zeros(channel.shape, dtype=np.float32)
    return (2 * (channel - low) / (high - low) - 1).astype(np.float32)


def read_legacy_depth_png(path: str | os.PathLike[str], mapping: str = "fixed") -> np.ndarray:
    """Read the original project's 8-bit depth PNG → (H, W) float32 in [-1, 1], 1 = nearest
    (:func:`legacy_depth_from_values` with ``mapping``). There is no metric scale and no "no surface" value:
    background pixels are simply the farthest (darkest) ones."""
    return legacy_depth_from_values(read_legacy_depth_values(path), mapping)


def encode_legacy_depth_png(depth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(H, W) z-depth → uint8 in the original's per-image normalised format (bright = near).

    ``−z`` is min–max normalised over the valid pixels to 0..255 (nearest = 255, farthest =
    0). Invalid pixels (depth <= 0, NaN/inf, mask False) are written as 0, i.e. as far as the
    farthest surface: the format cannot tell them apart. Constant valid depth gives 255.
    """
    depth = _as_depth_map(depth)
    valid = valid_depth(depth, mask)
    if not valid.any():
        return np.zeros(depth.shape, dtype=np.uint8)
    negated = -depth[valid]
    low, high = negated.min(), negated.max()
    scaled = (negated - low) / (high - low) if high > low else np.ones_like(negated)
    out = np.zeros(depth.shape, dtype=np.uint8)
    out[valid] = np.rint(scaled * 255).astype(np.uint8)
    return out


def write_legacy_depth_png(
    path: str | os.PathLike[str], depth: np.ndarray, mask: np.ndarray | None = None
) -> Path:
    """Write ``depth`` as an 8-bit grayscale PNG of the original's format, atomically."""
    return write_png_atomic(path, encode_legacy_depth_png(depth, mask))
