"""Videos from frames: MP4 (H.264 through ``imageio-ffmpeg``'s own ffmpeg) or, without it, an animated GIF.

:func:`write_video` streams (H, W, 3) uint8 frames into ``path`` atomically (a temporary file renamed at the end, so
an interrupted write leaves no half video). MP4 frames are padded by repeating their last row / column to even
sides (H.264 in yuv420p needs them). Without ``imageio-ffmpeg`` an ``.mp4`` request writes ``<stem>.gif`` instead,
with a warning, and returns that path.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from helpers.base.atomic import atomic_path, write_gif_atomic

__all__ = ["can_write_mp4", "write_video"]


def can_write_mp4() -> bool:
    """Whether MP4 can be written here (``imageio`` and ``imageio-ffmpeg`` are installed)."""
    return all(importlib.util.find_spec(name) is not None for name in ("imageio", "imageio_ffmpeg"))


def _frame(frame: Any, even: bool) -> np.ndarray:
    array = np.asarray(frame)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3) or array.dtype != np.uint8:
        raise ValueError(f"video frames must be (H, W, 3) or (H, W) uint8, got {array.shape} {array.dtype}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if even and (array.shape[0] % 2 or array.shape[1] % 2):
        array = np.pad(array, ((0, array.shape[0] % 2), (0, array.shape[1] % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(array)


def write_video(path: str | os.PathLike[str], frames: Iterable[Any], fps: float = 30.0, *,
                bitrate: str | None = "10M") -> Path:
    """Write ``frames`` to ``path`` (``.mp4`` or ``.gif``) at ``fps``; returns the path written (see the module doc).

    ``bitrate``: the H.264 bit rate (EG3D's ``gen_videos.py`` uses 10M); None lets ffmpeg choose by quality.
    Raises ValueError for another suffix, no frames, or frames that are not uint8 images of one size.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise ValueError(f"{path}: a video is written as .mp4 or .gif")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if suffix == ".mp4" and not can_write_mp4():
        warnings.warn("imageio-ffmpeg is not installed: writing a GIF instead of the MP4 "
                      "(pip install imageio-ffmpeg for MP4)", stacklevel=2)
        path = path.with_suffix(".gif")
        suffix = ".gif"
    if suffix == ".gif":
        collected = [_frame(f, even=False) for f in frames]
        return write_gif_atomic(path, collected, milliseconds=max(20, round(1000 / fps)))
    import imageio.v2 as imageio

    count, shape = 0, None
    with atomic_path(path) as tmp:
        writer = imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", bitrate=bitrate,
                                    pixelformat="yuv420p", macro_block_size=1)
        try:
            for frame in frames:
                array = _frame(frame, even=True)
                if shape is None:
                    shape = array.shape
                elif array.shape != shape:
                    raise ValueError(f"video frames must share one size: frame {count} is {array.shape}, not {shape}")
                writer.append_data(array)
                count += 1
        finally:
            writer.close()
        if count == 0:
            raise ValueError("a video needs at least one frame")
    return path
