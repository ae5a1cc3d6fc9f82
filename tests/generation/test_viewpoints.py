"""The dataset viewpoint mix: each sample's camera from its seed alone, in the mix's proportions and ranges."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from helpers.base import cameras
from helpers.generation.viewpoints import ViewpointCategory, ViewpointMix


def test_viewpoint_sampling_is_deterministic_per_seed():
    mix = ViewpointMix()
    a = [mix.sample(s) for s in range(50)]
    b = [mix.sample(s) for s in reversed(range(50))][::-1]
    assert a == b  # independent of order (resume / sharding)
    c1, views = mix.cameras([3, 17])
    assert c1.shape == (2, 25)
    np.testing.assert_array_equal(c1[1].numpy(), mix.sample(17).camera().numpy())
    assert views[0] == mix.sample(3)


def test_viewpoint_mix_proportions_and_ranges():
    mix = ViewpointMix()
    assert mix.probabilities == pytest.approx(
        {"frontal": 0.70, "side": 0.12, "side_extreme": 0.06, "frontal_neck": 0.12}
    )
    views = [mix.sample(s) for s in range(4000)]
    counts = {name: sum(v.category == name for v in views) / len(views) for name in mix.probabilities}
    for name, p in mix.probabilities.items():
        assert abs(counts[name] - p) < 4 * math.sqrt(p * (1 - p) / len(views)) + 1e-3, (name, counts)
    by_name = {c.name: c for c in mix.categories}
    for v in views:
        cat = by_name[v.category]
        assert cat.yaw[0] - 1e-9 <= abs(v.yaw) <= cat.yaw[1] + 1e-9
        assert cat.pitch[0] - 1e-9 <= v.pitch <= cat.pitch[1] + 1e-9
        assert v.focal == cat.focal and v.lookat == cat.lookat
    side = [v.yaw for v in views if v.category == "side"]
    assert min(side) < 0 < max(side)  # both directions
    # The recorded parameters rebuild the camera.
    yaw, pitch, radius = cameras.orbit_angles(views[0].cam2world())
    assert float(yaw) == pytest.approx(views[0].yaw, abs=1e-5)
    assert float(pitch) == pytest.approx(views[0].pitch, abs=1e-5)


def test_viewpoint_mix_parsing_and_errors():
    mix = ViewpointMix.parse("frontal=1, side=0, side_extreme=0, frontal_neck=0")
    assert {mix.sample(s).category for s in range(100)} == {"frontal"}
    with pytest.raises(ValueError, match="unknown viewpoint categories"):
        ViewpointMix.parse("profile=0.5,frontal=0.5")
    with pytest.raises(ValueError, match="name=share"):
        ViewpointMix.parse("frontal")
    with pytest.raises(ValueError, match="not a number"):
        ViewpointMix.parse("frontal=lots")
    with pytest.raises(ValueError, match="add up to 0, not 1"):
        ViewpointMix.parse("frontal=0,side=0,side_extreme=0,frontal_neck=0")
    with pytest.raises(ValueError, match="named twice"):
        ViewpointMix.parse("frontal=0.5,frontal=0.5")
    with pytest.raises(ValueError, match="min, max"):
        ViewpointCategory("x", 1.0, yaw=(1.0, 0.5))


def test_a_partial_mix_means_exactly_the_named_categories():
    """``frontal=1`` is all frontal views (it used to keep the other default weights: about 78 % frontal)."""
    only_frontal = ViewpointMix.parse("frontal=1")
    assert only_frontal.probabilities == {"frontal": 1.0, "side": 0.0, "side_extreme": 0.0, "frontal_neck": 0.0}
    assert {only_frontal.sample(s).category for s in range(200)} == {"frontal"}
    two = ViewpointMix.parse("frontal=0.5,side=0.5")
    assert two.probabilities == {"frontal": 0.5, "side": 0.5, "side_extreme": 0.0, "frontal_neck": 0.0}
    # The full default mix, written out, is the default mix: the same cameras for the same seeds.
    assert ViewpointMix.parse("frontal=0.7,side=0.12,side_extreme=0.06,frontal_neck=0.12") == ViewpointMix()


@pytest.mark.parametrize(("text", "message"), [
    ("frontal=2", r"share of 'frontal' is 2, outside \[0, 1\] — "),
    ("frontal=-0.5,side=1.5", r"outside \[0, 1\] — "),
    ("frontal=0.5", r"add up to 0.5, not 1 — "),
    ("frontal=0.7,side=0.7", r"add up to 1.4, not 1 — "),
    ("frontal=nan", r"outside \[0, 1\]"),
    ("", "empty viewpoint mix — "),
])
def test_a_mix_that_does_not_add_up_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        ViewpointMix.parse(text)


def test_viewpoint_record_is_json_friendly():
    record = ViewpointMix().sample(5).as_dict()
    assert set(record) == {"category", "yaw", "pitch", "radius", "focal", "lookat"}
    assert json.loads(json.dumps(record)) == record
