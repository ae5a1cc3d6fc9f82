"""Captions and colour bars drawn into the pixels of an image grid, so a saved PNG or an exported notebook still says
what each column is and what the colours mean.

Both return a new (H', W, 3) uint8 array: :func:`add_header` puts a white band with labels above the image (each
centred on an x position in pixels), :func:`add_colorbar` a band below with a horizontal colour ramp and the words
for its two ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["COLORBAR_HEIGHT", "HEADER_HEIGHT", "add_colorbar", "add_header", "column_centres", "gray_ramp"]

_INK = (30, 30, 30)
_HEADER_TEXT, _COLORBAR_TEXT = 13, 12
#: Pixels :func:`add_header` and :func:`add_colorbar` add at their default text sizes.
HEADER_HEIGHT, COLORBAR_HEIGHT = _HEADER_TEXT + 8, _COLORBAR_TEXT + 12


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
    except TypeError:
        return ImageFont.load_default()


def _band(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    band = Image.new("RGB", (width, height), (255, 255, 255))
    return band, ImageDraw.Draw(band)


def column_centres(count: int, tile: int, gap: int = 0, start: int = 0) -> list[float]:
    """The x centres of ``count`` columns of ``tile`` pixels separated by ``gap`` pixels, the first at ``start``."""
    return [start + k * (tile + gap) + tile / 2 for k in range(count)]


def add_header(image: np.ndarray, labels: Sequence[tuple[float, str]], *, size: int = _HEADER_TEXT) -> np.ndarray:
    """``image`` (H, W, 3) uint8 under a white band with each ``(x, text)`` label centred at pixel column x (text
    wider than the image is clipped). The band is ``size`` + 8 pixels high."""
    image = np.asarray(image)
    band, draw = _band(image.shape[1], size + 8)
    font = _font(size)
    for x, text in labels:
        draw.text((x, 4 + size / 2), text, fill=_INK, font=font, anchor="mm")
    return np.concatenate([np.asarray(band), image[..., :3]], axis=0)


def gray_ramp(values: np.ndarray) -> np.ndarray:
    """(N,) in [0, 1] → (N, 3) uint8 gray levels (0 black, 1 white)."""
    levels = np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(levels[:, None], 3, axis=1)


def add_colorbar(image: np.ndarray, colors: Callable[[np.ndarray], np.ndarray], low: str, high: str, *,
                 title: str = "", width: int | None = None, size: int = _COLORBAR_TEXT) -> np.ndarray:
    """``image`` over a band with a colour ramp: ``colors`` maps (N,) values in [0, 1] to (N, 3) uint8, drawn from
    ``low`` (left) to ``high`` (right), ``title`` before it; the ramp is ``width`` pixels wide (default a third of
    the image, at least 96)."""
    image = np.asarray(image)
    total = image.shape[1]
    band, draw = _band(total, size + 12)
    font = _font(size)
    ramp_w = min(total - 8, width or max(96, total // 3))
    title_w = draw.textlength(title + "  ", font=font) if title else 0.0
    low_w = draw.textlength(low + " ", font=font)
    x0 = int(min(max(4.0, (total - ramp_w) / 2), max(4.0, title_w + low_w + 4)))
    ramp = colors(np.linspace(0.0, 1.0, max(ramp_w, 2)))
    band_pixels = np.asarray(band).copy()
    band_pixels[4:size + 8, x0:x0 + ramp_w] = ramp[None, :ramp_w]
    band = Image.fromarray(band_pixels)
    draw = ImageDraw.Draw(band)
    middle = 6 + size / 2
    draw.text((x0 - 3, middle), low, fill=_INK, font=font, anchor="rm")
    draw.text((x0 + ramp_w + 3, middle), high, fill=_INK, font=font, anchor="lm")
    if title:
        draw.text((x0 - 3 - low_w, middle), title, fill=_INK, font=font, anchor="rm")
    return np.concatenate([image[..., :3], np.asarray(band)], axis=0)
