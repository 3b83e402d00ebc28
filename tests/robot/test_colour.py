"""Colour encodings a driver may publish all become the spec's rgb8, pixel for pixel."""

import numpy as np
import pytest

from robot_rl.robot.colour import to_rgb8

RGB = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding, wire", [
    ("rgb8", RGB),
    ("bgr8", RGB[:, :, ::-1]),
    ("rgba8", np.concatenate([RGB, np.full((4, 5, 1), 255, np.uint8)], axis=2)),
    ("bgra8", np.concatenate([RGB[:, :, ::-1], np.zeros((4, 5, 1), np.uint8)], axis=2)),
])
def test_colour_encodings_give_the_same_rgb(encoding, wire):
    out = to_rgb8(np.ascontiguousarray(wire), encoding)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, RGB)


def test_mono8_is_replicated_to_three_channels():
    grey = RGB[:, :, 0]
    out = to_rgb8(grey, "mono8")
    assert out.shape == (4, 5, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], grey)


def test_refusals_name_the_encoding_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"'yuv422'.*allowed: rgb8, bgr8, rgba8, bgra8, mono8"):
        to_rgb8(RGB, "yuv422")
    with pytest.raises(ValueError, match=r"rgba8 image has shape \(4, 5, 3\); expected \(H, W, 4\)"):
        to_rgb8(RGB, "rgba8")
    with pytest.raises(ValueError, match="dtype uint16"):
        to_rgb8(RGB.astype(np.uint16), "rgb8")
