"""16-bit metric depth PNGs and the original project's 8-bit per-image normalised format."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.base.depth_png import (
    decode_depth_png,
    encode_depth_png,
    encode_legacy_depth_png,
    legacy_depth_from_values,
    read_depth_png,
    read_legacy_depth_png,
    read_legacy_depth_values,
    write_depth_png,
    write_legacy_depth_png,
)

NEAR, FAR = 2.0, 3.5


def png_bytes(array: np.ndarray, color_type: int) -> bytes:
    """A minimal 16-bit PNG (Pillow cannot write 16-bit RGB): filter 0 rows, one IDAT."""
    height, width = array.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = array.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_encode_decode_error_is_below_one_code() -> None:
    rng = np.random.default_rng(0)
    depth = rng.uniform(NEAR, FAR, size=(64, 64))
    decoded = decode_depth_png(encode_depth_png(depth, NEAR, FAR), NEAR, FAR)
    assert decoded.dtype == np.float32
    assert np.abs(decoded - depth).max() <= (FAR - NEAR) / 65535
    assert (decoded > 0).all()


def test_codes_range_clipping_and_no_surface() -> None:
    depth = np.array([[NEAR, FAR, 1.0, 9.0], [0.0, -1.0, np.nan, np.inf]])
    codes = encode_depth_png(depth, NEAR, FAR)
    assert codes.dtype == np.uint16
    np.testing.assert_array_equal(codes, [[1, 65535, 1, 65535], [0, 0, 0, 0]])
    decoded = decode_depth_png(codes, NEAR, FAR)
    np.testing.assert_array_equal(decoded, [[NEAR, FAR, NEAR, FAR], [0, 0, 0, 0]])
    mask = np.array([[True, False, True, True], [True] * 4])
    assert encode_depth_png(depth, NEAR, FAR, mask=mask)[0, 1] == 0


def test_png_round_trip_is_16_bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    depth = rng.uniform(NEAR, FAR, size=(16, 20))
    depth[3:6, 4:9] = 0.0
    path = write_depth_png(tmp_path / "depth" / "a.png", depth, NEAR, FAR)
    with Image.open(path) as image:
        assert image.mode.startswith("I;16") and image.size == (20, 16)
    decoded = read_depth_png(path, NEAR, FAR)
    assert (decoded[3:6, 4:9] == 0).all()
    valid = depth > 0
    assert np.abs(decoded[valid] - depth[valid]).max() <= (FAR - NEAR) / 65535
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]


@pytest.mark.parametrize(
    ("near", "far"), [(0.0, 1.0), (2.0, 2.0), (3.0, 2.0), (-1.0, 1.0), (1.0, np.inf)]
)
def test_invalid_range(near: float, far: float) -> None:
    with pytest.raises(ValueError, match="0 < near < far"):
        encode_depth_png(np.ones((2, 2)), near, far)
    with pytest.raises(ValueError, match="0 < near < far"):
        decode_depth_png(np.ones((2, 2), np.uint16), near, far)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_8_bit_png_is_refused_with_a_pointer_to_the_legacy_reader(
    tmp_path: Path, mode: str
) -> None:
    path = tmp_path / "legacy.png"
    Image.fromarray(np.zeros((4, 4, len(mode)), np.uint8).squeeze(), mode=mode).save(path)
    with pytest.raises(ValueError, match=r"is an 8-bit .*16-bit.*read_legacy_depth_png") as error:
        read_depth_png(path, NEAR, FAR)
    assert "legacy.png" in str(error.value)


@pytest.mark.parametrize(
    ("color_type", "channels", "name"), [(2, 3, "RGB"), (6, 4, "RGBA"), (4, 2, "grayscale\\+alpha")]
)
def test_multichannel_16_bit_png_is_refused(
    tmp_path: Path, color_type: int, channels: int, name: str
) -> None:
    path = tmp_path / "rgb16.png"
    path.write_bytes(png_bytes(np.full((3, 5, channels), 1000, np.uint16), color_type))
    with pytest.raises(ValueError, match=f"16-bit {name} image.*single-channel"):
        read_depth_png(path, NEAR, FAR)


def test_hand_built_16_bit_grayscale_is_read(tmp_path: Path) -> None:
    path = tmp_path / "gray16.png"
    path.write_bytes(png_bytes(np.array([[0, 1, 65535]], np.uint16), 0))
    np.testing.assert_allclose(read_depth_png(path, NEAR, FAR), [[0.0, NEAR, FAR]])


def test_missing_and_non_png_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_depth_png(tmp_path / "missing.png", NEAR, FAR)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_legacy_depth_png(tmp_path / "missing.png")
    (tmp_path / "fake.png").write_bytes(b"GIF89a" + bytes(40))
    with pytest.raises(ValueError, match="fake.png is not a PNG"):
        read_depth_png(tmp_path / "fake.png", NEAR, FAR)
    good = png_bytes(np.zeros((8, 8), np.uint16), 0)
    (tmp_path / "cut.png").write_bytes(good[:40])
    with pytest.raises(ValueError, match="cut.png could not be read"):
        read_depth_png(tmp_path / "cut.png", NEAR, FAR)


def test_legacy_format_round_trip_and_polarity(tmp_path: Path) -> None:
    depth = np.array([[2.0, 2.5, 3.0], [0.0, 2.25, 2.75]])
    codes = encode_legacy_depth_png(depth)
    np.testing.assert_array_equal(codes, [[255, 128, 0], [0, 191, 64]])  # bright = near
    path = write_legacy_depth_png(tmp_path / "legacy.png", depth)
    values = read_legacy_depth_png(path)
    assert values.dtype == np.float32 and values.min() == -1.0 and values.max() == 1.0
    np.testing.assert_allclose(values, codes / 127.5 - 1, atol=1e-6)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_legacy_reader_uses_the_first_channel_with_either_mapping(tmp_path: Path, mode: str) -> None:
    image = np.zeros((2, 2, len(mode)), np.uint8)
    image[..., 0] = [[50, 100], [150, 150]]
    image[..., 1] = 255  # other channels are ignored
    Image.fromarray(image, mode=mode).save(tmp_path / "c.png")
    np.testing.assert_array_equal(read_legacy_depth_values(tmp_path / "c.png"), [[50, 100], [150, 150]])
    np.testing.assert_allclose(read_legacy_depth_png(tmp_path / "c.png", "per_image"), [[-1, 0], [1, 1]])
    np.testing.assert_allclose(read_legacy_depth_png(tmp_path / "c.png"), np.array([[50, 100], [150, 150]]) / 127.5 - 1,
                               atol=1e-6)  # "fixed", the default: the original's evaluation


def test_legacy_mappings_differ_on_maps_that_do_not_span_the_range(tmp_path: Path) -> None:
    """The original evaluated against x/255·2 − 1; its mesh reader stretched min–max: they agree only on full
    range maps."""
    codes = np.array([[40, 120], [200, 200]], np.uint8)
    Image.fromarray(codes).save(tmp_path / "narrow.png")
    fixed = read_legacy_depth_png(tmp_path / "narrow.png", "fixed")
    per_image = read_legacy_depth_png(tmp_path / "narrow.png", "per_image")
    np.testing.assert_allclose(fixed, codes / 255 * 2 - 1, atol=1e-6)
    np.testing.assert_allclose(per_image, [[-1, 0], [1, 1]], atol=1e-6)
    assert np.abs(fixed - per_image).max() == pytest.approx(2 - 200 / 127.5)  # the nearest pixel: 0.57 against 1
    with pytest.raises(ValueError, match="mapping"):
        legacy_depth_from_values(codes, "minmax")


def test_legacy_constant_image_and_mask(tmp_path: Path) -> None:
    Image.fromarray(np.full((3, 3), 77, np.uint8)).save(tmp_path / "flat.png")
    np.testing.assert_array_equal(read_legacy_depth_png(tmp_path / "flat.png", "per_image"), np.zeros((3, 3)))
    np.testing.assert_allclose(read_legacy_depth_png(tmp_path / "flat.png"), np.full((3, 3), 77 / 127.5 - 1), atol=1e-6)
    mask = np.array([[True, False], [True, True]])
    codes = encode_legacy_depth_png(np.full((2, 2), 2.0), mask)
    np.testing.assert_array_equal(codes, [[255, 0], [255, 255]])
    assert not encode_legacy_depth_png(np.zeros((2, 2))).any()


def test_legacy_reader_refuses_16_bit(tmp_path: Path) -> None:
    path = write_depth_png(tmp_path / "metric.png", np.full((2, 2), 2.5), NEAR, FAR)
    with pytest.raises(ValueError, match="16-bit.*read_depth_png"):
        read_legacy_depth_png(path)
