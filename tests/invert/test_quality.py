"""The quality record (helpers.invert.quality): a good photo is not flagged; a bad fit, a large pose and a small face
are, each with its reason; invert's report and reconstruct's summary list the flagged photos first."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from skimage import data

from helpers.base.cameras import elevation_to_pitch
from helpers.invert.align import align_face
from helpers.invert.camera_accuracy import synthetic_landmarks
from helpers.invert.camera_fit import estimate_camera
from helpers.invert.quality import QualityThresholds, flagged_first, photo_quality

pytest.importorskip("dlib", reason="needs the [face] extra: pip install dlib-bin face_recognition_models")


@pytest.fixture(scope="module")
def astronaut():
    return align_face(data.astronaut())


def test_a_good_photo_is_not_flagged(astronaut):
    record = photo_quality(astronaut, estimate_camera(astronaut.landmarks, 512),
                           {"tuned": {"lpips": 0.12, "psnr": 24.5}})
    assert record["flags"] == [] and record["yaw_bin"] == "frontal (within ±20°)"
    assert 10 < record["fit_px"] < 20 and record["eye_distance_px"] > 40 and record["lpips"] == 0.12
    assert photo_quality(astronaut, None)["flags"] == [] and "fit_px" not in photo_quality(astronaut, None)


def test_bad_fit_large_pose_and_small_face_are_flagged_with_reasons(astronaut):
    shuffled = astronaut.landmarks[np.random.default_rng(0).permutation(68)]
    bad = photo_quality(None, estimate_camera(shuffled, 512))["flags"]
    assert len(bad) >= 1 and bad[0].startswith("camera fit: the landmarks lie")
    turned = synthetic_landmarks(math.radians(60), float(elevation_to_pitch(math.radians(5))))
    pose = photo_quality(None, estimate_camera(turned, 512))
    assert pose["yaw_bin"] == "±45–70°" and any(f.startswith("pose: yaw +60°") for f in pose["flags"])
    small = align_face(np.asarray(Image.fromarray(data.astronaut()).resize((256, 256))),
                       landmarks=(astronaut.source_landmarks + 0.5) / 2 - 0.5)
    flags = photo_quality(small, None)["flags"]
    assert len(flags) == 1 and flags[0].startswith("small face: the crop enlarges it")
    strict = photo_quality(astronaut, None, {"tuned": {"lpips": 0.5}}, QualityThresholds(max_lpips=0.3))
    assert strict["flags"] == ["inversion: LPIPS 0.500 against the photo, above 0.3"]


def test_flagged_first_lists_the_flagged_photos():
    records = {"a": {"quality": {"flags": []}}, "b": {"quality": {"flags": ["pose: yaw +60°", "small face"]}},
               "c": {}}
    text = flagged_first(records)
    assert text.startswith("1 of 3 photos flagged") and "| b | pose: yaw +60°; small face |" in text
    assert flagged_first({"a": records["a"]}).startswith("No photo flagged (1 checked")
