"""sensor_msgs/Image decoding as the policy node and the panel do it: every colour encoding a
driver may publish (realsense-ros rgb8, OpenCV drivers bgr8, rgba8/bgra8, mono8) becomes the same
(H, W, 3) RGB, padded rows (step > width * channels) included; others are refused by name."""

import numpy as np
import pytest

pytest.importorskip("rclpy")
from builtin_interfaces.msg import Time  # noqa: E402

from ros_nodes.messages import image_to_msg, msg_to_rgb  # noqa: E402

RGB = np.random.default_rng(1).integers(0, 256, (6, 8, 3), dtype=np.uint8)
WIRE = {"rgb8": RGB, "bgr8": RGB[:, :, ::-1],
        "rgba8": np.concatenate([RGB, np.full((6, 8, 1), 255, np.uint8)], axis=2),
        "bgra8": np.concatenate([RGB[:, :, ::-1], np.full((6, 8, 1), 7, np.uint8)], axis=2)}


@pytest.mark.parametrize("encoding", sorted(WIRE))
def test_colour_encodings_decode_to_rgb(encoding):
    msg = image_to_msg(WIRE[encoding], encoding, Time(sec=1), "camera_color_optical_frame")
    np.testing.assert_array_equal(msg_to_rgb(msg), RGB)


def test_padded_rows_and_mono8():
    msg = image_to_msg(RGB[:, :, 1], "mono8", Time(sec=1), "cam")
    msg.step = 10  # 2 bytes of padding per row, as some drivers align rows
    msg.data = np.pad(RGB[:, :, 1], ((0, 0), (0, 2))).tobytes()
    out = msg_to_rgb(msg)
    assert out.shape == (6, 8, 3)
    np.testing.assert_array_equal(out[:, :, 2], RGB[:, :, 1])


def test_depth_and_unknown_encodings_are_refused_as_colour():
    depth = image_to_msg(np.zeros((6, 8), np.uint16), "16UC1", Time(sec=1), "cam")
    with pytest.raises(ValueError, match="'16UC1' for a colour image; allowed: rgb8, bgr8"):
        msg_to_rgb(depth)
    depth.encoding = "yuv422"
    with pytest.raises(ValueError, match="'yuv422'"):
        msg_to_rgb(depth)
