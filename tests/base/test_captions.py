"""Captions and colour bars drawn into an image's pixels."""

from __future__ import annotations

import numpy as np

from helpers.base.captions import (
    COLORBAR_HEIGHT,
    HEADER_HEIGHT,
    add_colorbar,
    add_header,
    column_centres,
    gray_ramp,
)


def test_header_writes_each_label_over_its_column():
    image = np.zeros((40, 300, 3), np.uint8)
    out = add_header(image, list(zip(column_centres(3, 96, 6), ("left", "", "right"))))
    assert out.shape == (HEADER_HEIGHT + 40, 300, 3) and np.array_equal(out[HEADER_HEIGHT:], image)
    band = out[:HEADER_HEIGHT].min(axis=2) < 128  # ink
    columns = [band[:, int(x) - 40:int(x) + 40].any() for x in column_centres(3, 96, 6)]
    assert columns == [True, False, True]  # the empty label leaves its column blank


def test_colorbar_draws_the_ramp_and_its_end_labels():
    image = np.full((30, 400, 3), 200, np.uint8)
    out = add_colorbar(image, gray_ramp, "far", "near", title="depth", width=120)
    assert out.shape == (30 + COLORBAR_HEIGHT, 400, 3) and np.array_equal(out[:30], image)
    row = out[30 + COLORBAR_HEIGHT // 2, :, 0].astype(int)
    start = int(np.flatnonzero(row == 0)[0])  # the ramp starts black (the text's ink is dark gray)
    steps = row[start:start + 120]
    assert steps[-1] == 255 and np.all(np.diff(steps) >= 0) and len(np.unique(steps)) > 100
    ink_left = (out[30:, :start - 2].min(axis=2) < 128).any()
    ink_right = (out[30:, start + 122:].min(axis=2) < 128).any()
    assert ink_left and ink_right  # "depth far" before the ramp, "near" after it
    assert np.array_equal(gray_ramp(np.array([0.0, 0.5, 1.0]))[:, 0], [0, 128, 255])
