"""Face detection, 68 landmarks and the FFHQ/EG3D crop on a real photo (skimage's public-domain astronaut).

Detection runs once per fixture (module scope); the dlib tests are skipped only where the optional
``[face]`` extra (dlib-bin, face_recognition_models) is not installed.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from PIL import Image
from skimage import data

from helpers.base.photo import load_rgb
from helpers.invert.align import (
    AlignConfig,
    AlignedFace,
    AlignmentError,
    FaceTooSmallError,
    MultipleFacesError,
    NoFaceError,
    align_face,
    draw_landmarks,
    select_face,
    warp_to_crop,
)
from helpers.invert.crop_recipe import CropRecipe, apply_transform, eye_mouth_points
from helpers.invert.dlib_landmarks import MODELS_ENV, DetectedFace, FaceModelsMissingError, detect_faces, predictor_path


def _face_models_installed() -> bool:
    try:
        predictor_path()
    except ImportError:
        return False
    return importlib.util.find_spec("dlib") is not None


needs_dlib = pytest.mark.skipif(not _face_models_installed(),
                                reason="needs the [face] extra: pip install dlib-bin face_recognition_models")
INNER = slice(17, 68)  # brows, nose, eyes, mouth: the jaw leaves the FFHQ crop at the chin


def crop_center(landmarks: np.ndarray) -> np.ndarray:
    """The crop centre: eye midpoint + (0.1 + center_shift) · eye-to-mouth (0.1: FFHQ; the shift: EG3D's crop)."""
    eye_left, eye_right, mouth_left, mouth_right = eye_mouth_points(landmarks)
    eyes = (eye_left + eye_right) / 2
    return eyes + (0.1 + CropRecipe().center_shift) * ((mouth_left + mouth_right) / 2 - eyes)


def eye_angle_deg(landmarks: np.ndarray) -> float:
    eye_left, eye_right, _, _ = eye_mouth_points(landmarks)
    dx, dy = eye_right - eye_left
    return float(np.degrees(np.arctan2(dy, dx)))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def aligned(astronaut) -> AlignedFace:
    return align_face(astronaut)


@pytest.fixture(scope="module")
def head(astronaut) -> np.ndarray:
    return astronaut[40:300, 110:340]  # her head, without the mission patch (see test_only_ignores_weak…)


@pytest.fixture(scope="module")
def pair(head) -> np.ndarray:
    """Two astronauts side by side: the full-size head on the left, a 2/3-size copy on the right."""
    small = np.asarray(Image.fromarray(head).resize((head.shape[1] * 2 // 3, head.shape[0] * 2 // 3),
                                                    Image.Resampling.LANCZOS))
    canvas = np.full((300, 420, 3), 200, np.uint8)
    canvas[20:20 + head.shape[0], 10:10 + head.shape[1]] = head
    canvas[60:60 + small.shape[0], 260:260 + small.shape[1]] = small
    return canvas


@pytest.fixture(scope="module")
def pair_faces(pair) -> list[DetectedFace]:
    return detect_faces(pair)


@pytest.fixture(scope="module")
def tiny(head) -> np.ndarray:
    """The head shrunk to 30% (eyes ~13 px apart) on a 160² canvas: too small for the default detector."""
    small = np.asarray(Image.fromarray(head).resize((round(head.shape[1] * 0.3), round(head.shape[0] * 0.3)),
                                                    Image.Resampling.LANCZOS))
    canvas = np.full((160, 160, 3), 200, np.uint8)
    canvas[40:40 + small.shape[0], 40:40 + small.shape[1]] = small
    return canvas


# --------------------------------------------------------------------------------------------
# Alignment geometry on the astronaut
# --------------------------------------------------------------------------------------------


@needs_dlib
def test_astronaut_crop_has_the_ffhq_geometry(aligned):
    recipe = CropRecipe()
    assert aligned.image.shape == (512, 512, 3) and aligned.image.dtype == np.uint8
    assert aligned.source_size == (512, 512) and aligned.num_faces == 1 and aligned.face_index == 0
    np.testing.assert_allclose(crop_center(aligned.landmarks), [255.5, 255.5], atol=1.0)
    corners = apply_transform(aligned.transform, aligned.quad)
    sides = np.hypot(*(np.roll(corners, -1, axis=0) - corners).T)
    np.testing.assert_allclose(sides, recipe.quad_side_px, rtol=1e-6)
    assert abs(eye_angle_deg(aligned.landmarks)) < 3.0
    # Her eyes are ~43 px apart in the photo, ~139 px in an EG3D crop... when the eye distance sets the quad;
    # her smile lengthens eye-to-mouth, which sets it here: a ~3.2× enlargement.
    assert 40 < np.hypot(*np.subtract(*eye_mouth_points(aligned.source_landmarks)[:2])) < 47
    assert aligned.scale == pytest.approx(4.3 / CropRecipe().quad_scale, abs=0.3)


@needs_dlib
def test_landmarks_found_on_the_crop_match_the_transformed_ones(aligned):
    """The pixels were warped by exactly ``transform``: dlib on the output finds the mapped landmarks."""
    found = detect_faces(aligned.image)
    assert len(found) == 1
    again, expected = found[0].landmarks, aligned.landmarks
    for point_found, point_expected in zip(eye_mouth_points(again), eye_mouth_points(expected)):
        assert np.hypot(*(point_found - point_expected)) < 7.0  # output px; 1 source px = 4.3 output px
    difference = again[INNER] - expected[INNER]
    assert np.hypot(*difference.mean(0)) < 2.5  # no large systematic shift (exact: test_warp_moves_pixels…)
    assert np.median(np.hypot(*difference.T)) < 5.0
    np.testing.assert_allclose(crop_center(again), [255.5, 255.5], atol=4.0)


@needs_dlib
def test_only_ignores_weak_detections_when_a_clear_face_exists(astronaut):
    """dlib also fires on the round mission patch on her suit (score ~0.1); min_score keeps it out."""
    faces = detect_faces(astronaut)
    assert len(faces) == 2 and min(face.score for face in faces) < 0.3
    result = align_face(astronaut, AlignConfig(face="only"), faces=faces)
    assert result.num_faces == 1 and result.score > 1.0
    with pytest.raises(MultipleFacesError, match="2 faces"):
        align_face(astronaut, AlignConfig(face="only", min_score=0.0), faces=faces)


@needs_dlib
def test_large_photos_are_detected_on_a_shrunk_copy(astronaut, aligned):
    big = np.asarray(Image.fromarray(astronaut).resize((1536, 1536), Image.Resampling.LANCZOS))
    faces = detect_faces(big, max_side=512)  # detection at 512², landmarks at 1536²
    expected = (aligned.source_landmarks + 0.5) * 3 - 0.5
    assert np.median(np.hypot(*(faces[0].landmarks[INNER] - expected[INNER]).T)) < 6.0  # 2 px at 512²
    assert faces[0].size == pytest.approx(3 * 91, rel=0.1)


# --------------------------------------------------------------------------------------------
# Photo formats
# --------------------------------------------------------------------------------------------


@needs_dlib
@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_rotated_jpeg_aligns_like_the_upright_photo(astronaut, aligned, tmp_path, orientation):
    stored = np.rot90(astronaut, 1 if orientation == 6 else -1)  # 6: display = stored turned 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "sideways.jpg"
    Image.fromarray(np.ascontiguousarray(stored)).save(path, quality=95, exif=exif)
    assert load_rgb(path).shape == astronaut.shape
    result = align_face(path)
    assert result.source_size == (512, 512)
    assert np.median(np.hypot(*(result.source_landmarks - aligned.source_landmarks).T)) < 1.5


@needs_dlib
@pytest.mark.parametrize("kind", ["grey", "rgba", "grey16"])
def test_grey_alpha_and_16_bit_pngs_align(astronaut, aligned, tmp_path, kind):
    grey = np.asarray(Image.fromarray(astronaut).convert("L"))
    if kind == "grey":
        image = Image.fromarray(grey)
    elif kind == "grey16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)  # mode I;16, full 16-bit range
    else:
        rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
        rgba[400:, 400:, 3] = 0  # a transparent corner, far from the face
        image = Image.fromarray(rgba)
    path = tmp_path / f"{kind}.png"
    image.save(path)
    rgb = load_rgb(path)
    if kind == "grey16":
        assert Image.open(path).mode.startswith("I")
        np.testing.assert_array_equal(rgb, np.repeat(grey[..., None], 3, axis=-1))  # not clipped to white
    if kind == "rgba":
        assert (rgb[400:, 400:] == 255).all() and (rgb[:400] == astronaut[:400]).all()
    result = align_face(path)
    assert np.median(np.hypot(*(result.source_landmarks - aligned.source_landmarks).T)) < 2.0


def test_load_rgb_modes_and_arrays():
    ramp = np.arange(0, 65536, 257, dtype=np.uint16).reshape(16, 16)  # 0..65535 ↔ 0..255
    expected = np.repeat((ramp // 257).astype(np.uint8)[..., None], 3, axis=-1)
    np.testing.assert_array_equal(load_rgb(ramp), expected)
    np.testing.assert_array_equal(load_rgb(Image.fromarray(ramp)), expected)  # mode I;16
    np.testing.assert_array_equal(load_rgb(Image.fromarray(ramp.astype(np.int32))), expected)  # mode I
    np.testing.assert_array_equal(load_rgb(np.dstack([ramp] * 3)), expected)
    grey_alpha = np.zeros((2, 2, 2), np.uint8)
    grey_alpha[..., 1] = [[0, 255], [128, 255]]
    np.testing.assert_array_equal(load_rgb(grey_alpha)[..., 0], [[255, 0], [127, 0]])  # over white
    palette = Image.fromarray(np.array([[0, 1]], np.uint8), mode="P")
    palette.putpalette([10, 20, 30, 40, 50, 60])
    palette.info["transparency"] = 1
    np.testing.assert_array_equal(load_rgb(palette), [[[10, 20, 30], [255, 255, 255]]])
    with pytest.raises(ValueError, match="uint16"):
        load_rgb(np.zeros((4, 4, 3), np.int64))


def test_non_image_files_are_named_in_the_error(tmp_path):
    path = tmp_path / "holiday.jpg"
    path.write_text("this is a text file, not a JPEG")
    with pytest.raises(ValueError, match="holiday.jpg") as error:
        align_face(path)
    assert not isinstance(error.value, AlignmentError)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        align_face(tmp_path / "missing.png")


# --------------------------------------------------------------------------------------------
# Choosing the face, and refusing bad ones
# --------------------------------------------------------------------------------------------


@needs_dlib
@pytest.mark.parametrize("kind", ["blank", "noise"])
def test_photos_without_a_face_are_refused(kind):
    rng = np.random.default_rng(0)
    image = np.full((200, 240, 3), 128, np.uint8) if kind == "blank" else rng.integers(0, 256, (200, 240, 3),
                                                                                        dtype=np.uint8)
    with pytest.raises(NoFaceError, match="no face") as error:
        align_face(image)
    assert "upsample" in str(error.value) and "landmarks" in str(error.value)


@needs_dlib
def test_two_faces_largest_only_and_index(pair, pair_faces, tmp_path):
    assert len(pair_faces) == 2 and pair_faces[0].size > pair_faces[1].size * 1.3
    path = tmp_path / "pair.png"
    Image.fromarray(pair).save(path)
    largest = align_face(path)  # detects itself
    assert largest.num_faces == 2 and largest.face_index == 0
    assert largest.box == pytest.approx(pair_faces[0].box)
    with pytest.raises(MultipleFacesError, match="2 faces") as error:
        align_face(pair, AlignConfig(face="only"), faces=pair_faces)
    message = str(error.value)
    assert "face=" in message and f"{pair_faces[1].box[0]:.0f}" in message
    other = align_face(pair, AlignConfig(face=1), faces=pair_faces)
    assert other.face_index == 1 and other.box == pytest.approx(pair_faces[1].box)
    assert other.source_landmarks[:, 0].min() > 250  # the right-hand (smaller) astronaut
    np.testing.assert_allclose(crop_center(other.landmarks), [255.5, 255.5], atol=1.0)
    assert align_face(pair, AlignConfig(face=-1), faces=pair_faces).face_index == 1
    with pytest.raises(AlignmentError, match="out of range"):
        align_face(pair, AlignConfig(face=2), faces=pair_faces)


@needs_dlib
def test_tiny_faces_are_refused_with_advice(tiny):
    with pytest.raises(NoFaceError, match="upsample=2"):
        align_face(tiny)  # the default detector misses faces under ~40 px
    with pytest.raises(FaceTooSmallError, match="px apart") as error:
        align_face(tiny, AlignConfig(upsample=2))
    assert "min_eye_distance" in str(error.value) and "higher-resolution" in str(error.value)
    accepted = align_face(tiny, AlignConfig(upsample=2, min_eye_distance=8.0))
    assert accepted.image.shape == (512, 512, 3)
    assert f"~{accepted.scale:.0f}× enlargement" in str(error.value)  # the crop's actual scale


def test_select_face_without_detections_and_config_validation():
    with pytest.raises(NoFaceError):
        select_face([], source_size=(100, 100))
    with pytest.raises(ValueError, match="face must be"):
        AlignConfig(face="biggest")
    with pytest.raises(ValueError, match="padding"):
        AlignConfig(padding="mirror")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Missing dlib / models
# --------------------------------------------------------------------------------------------


def test_missing_model_folder_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    with pytest.raises(FaceModelsMissingError, match="pip install dlib-bin face_recognition_models") as error:
        detect_faces(np.zeros((64, 64, 3), np.uint8))
    assert isinstance(error.value, ImportError) and str(tmp_path) in str(error.value)
    with pytest.raises(ImportError, match="pip install dlib-bin"):
        align_face(np.zeros((64, 64, 3), np.uint8))


def test_missing_dlib_says_what_to_install(monkeypatch, tmp_path):
    (tmp_path / "shape_predictor_68_face_landmarks.dat").write_bytes(b"")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib → ImportError
    with pytest.raises(FaceModelsMissingError, match="dlib is not installed.*pip install dlib-bin"):
        detect_faces(np.zeros((64, 64, 3), np.uint8))


def test_given_landmarks_need_no_detector(astronaut, monkeypatch):
    landmarks = _landmarks_from_reference()
    monkeypatch.setitem(sys.modules, "dlib", None)
    result = align_face(astronaut, landmarks=landmarks)
    assert result.num_faces == 1 and np.isnan(result.score)
    np.testing.assert_allclose(crop_center(result.landmarks), [255.5, 255.5], atol=1e-6)


def _landmarks_from_reference() -> np.ndarray:
    """Synthetic landmarks: the astronaut's eyes and mouth corners where dlib puts them, the rest at her nose."""
    landmarks = np.full((68, 2), [222.0, 140.0])
    landmarks[36:42] = [199.0, 111.0]
    landmarks[42:48] = [242.0, 112.0]
    landmarks[48] = [205.0, 153.0]
    landmarks[54] = [243.0, 152.0]
    return landmarks


# --------------------------------------------------------------------------------------------
# Resampling: exact geometry, antialiasing, padding
# --------------------------------------------------------------------------------------------


def _similarity(scale: float, angle_deg: float, center_src: tuple[float, float], center_out: float) -> np.ndarray:
    angle = np.radians(angle_deg)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = np.eye(3)
    matrix[:2, :2] = rotation
    matrix[:2, 2] = center_out - rotation @ np.asarray(center_src)
    return matrix


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_warp_moves_pixels_exactly_as_the_transform_says(scale):
    """Gaussian blobs land where ``transform`` maps their centres, to a fraction of a pixel."""
    size = 64
    transform = _similarity(scale, 17.0, (150.0, 155.0), size / 2 - 0.5)
    expected = np.array([[20.0, 24.0], [42.3, 30.7], [28.6, 47.2]])  # output pixels, > 20 px apart
    blobs = apply_transform(np.linalg.inv(transform), expected)
    sigma = max(2.0 / scale, 1.5)  # source pixels: ≥ 2 output pixels, resolvable at every scale
    yy, xx = np.mgrid[0:300, 0:300]
    image = np.zeros((300, 300), np.float64)
    for x, y in blobs:
        image += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    rgb = np.repeat(np.clip(np.rint(image * 250), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    out = warp_to_crop(rgb, transform, size, padding="black")[..., 0].astype(np.float64)
    oy, ox = np.mgrid[0:size, 0:size]
    for point in expected:
        weights = out * (np.hypot(ox - point[0], oy - point[1]) < 3.5 * sigma * scale)
        centroid = np.array([(weights * ox).sum(), (weights * oy).sum()]) / weights.sum()
        np.testing.assert_allclose(centroid, point, atol=0.1)


def test_shrinking_is_antialiased():
    stripes = np.zeros((400, 400, 3), np.uint8)
    stripes[:, ::2] = 255  # 1-pixel stripes: alias into bands if sampled without a low-pass filter
    out = warp_to_crop(stripes, _similarity(0.25, 10.0, (200.0, 200.0), 31.5), 64)
    assert abs(out.mean() - 127.5) < 3 and out.std() < 4


@needs_dlib
def test_padding_fills_outside_the_photo_and_keeps_the_inside(astronaut, aligned):
    corner = astronaut[70:, 160:]  # her face now touches the top-left border: the quad leaves the photo
    landmarks = aligned.source_landmarks - [160, 70]
    black = align_face(corner, AlignConfig(padding="black"), landmarks=landmarks)
    blurred = align_face(corner, landmarks=landmarks)
    source = apply_transform(np.linalg.inv(black.transform), np.stack(np.mgrid[0:512, 0:512][::-1], -1).reshape(-1, 2))
    outside = ((source < -2).any(1)).reshape(512, 512)  # output pixels from > 2 px outside the photo
    inside = ((source > 2).all(1) & (source < np.array(corner.shape[1::-1]) - 3).all(1)).reshape(512, 512)
    assert outside.mean() > 0.1 and inside.mean() > 0.5
    assert (black.image[outside] == 0).all()
    filled = blurred.image[outside].max(-1)
    assert (filled > 5).mean() > 0.99 and filled.mean() > 60  # filled (reflections of her dark suit too), not black
    np.testing.assert_array_equal(blurred.image[inside], black.image[inside])


def test_draw_landmarks_marks_the_points():
    image = np.zeros((100, 100, 3), np.uint8)
    landmarks = np.column_stack([np.linspace(10, 90, 68), np.linspace(20, 80, 68)])
    drawn = draw_landmarks(image, landmarks, radius=1)
    assert drawn.shape == image.shape and (image == 0).all()
    assert (drawn[20, 10] == [0, 255, 0]).all() and (drawn[80, 90] == [0, 255, 0]).all()
    assert (drawn[..., 0] == 255).any()  # the eye and mouth centres
