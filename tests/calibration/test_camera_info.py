"""The camera_info YAML round-trips, matches ROS's layout, loads into a real sensor_msgs/CameraInfo,
and bad files fail with the field named."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from calibration.camera_info import load_camera_info, write_camera_info
from robot_rl.errors import ConfigError

K = np.array([[610.0, 0.0, 326.5], [0.0, 606.0, 243.0], [0.0, 0.0, 1.0]])
D = np.array([-0.11, 0.06, 0.0008, -0.0006, 0.0])


def test_round_trip_and_ros_layout(tmp_path):
    path = tmp_path / "camera.yaml"
    write_camera_info(path, K, D, (640, 480), "agentview")
    raw = yaml.safe_load(path.read_text())
    assert list(raw) == [
        "image_width",
        "image_height",
        "camera_name",
        "camera_matrix",
        "distortion_model",
        "distortion_coefficients",
        "rectification_matrix",
        "projection_matrix",
    ]
    assert raw["camera_matrix"]["rows"] == 3 and raw["projection_matrix"]["cols"] == 4
    assert raw["distortion_model"] == "plumb_bob" and raw["distortion_coefficients"]["cols"] == 5
    info = load_camera_info(path)
    np.testing.assert_array_equal(info.K, K)
    np.testing.assert_array_equal(info.D, D)
    assert info.size == (640, 480) and info.camera_name == "agentview"
    np.testing.assert_array_equal(info.R, np.eye(3))
    # Projection: the rectified camera (getOptimalNewCameraMatrix, alpha 0): barrel distortion zooms in.
    assert info.P.shape == (3, 4) and info.P[0, 0] > K[0, 0] * 0.9 and np.all(info.P[:, 3] == 0)
    assert not (tmp_path / "camera.yaml.tmp").exists()


def test_msg_fields_build_a_real_camera_info_message(tmp_path):
    from sensor_msgs.msg import CameraInfo  # real ROS 2 message type from the kilted wheels

    path = tmp_path / "camera.yaml"
    write_camera_info(path, K, D, (640, 480))
    msg = CameraInfo(**load_camera_info(path).msg)
    assert (msg.width, msg.height, msg.distortion_model) == (640, 480, "plumb_bob")
    np.testing.assert_allclose(np.array(msg.k).reshape(3, 3), K)
    np.testing.assert_allclose(msg.d, D)
    assert len(msg.p) == 12 and len(msg.r) == 9


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["camera_matrix"].update(data=[1.0] * 8), r"camera_matrix: .*data has 8 values"),
        (lambda d: d.pop("projection_matrix"), r"projection_matrix: required field is missing"),
        (lambda d: d.update(distortion_model="fisheye"), r"distortion_model: got 'fisheye'"),
        (lambda d: d["distortion_coefficients"].update(cols=4, data=[0.0] * 4), r"plumb_bob needs 5 coefficients"),
        (lambda d: d.update(image_width=-1), r"image_width: got -1"),
        (lambda d: d.update(focal=3), r"focal: unknown key"),
    ],
)
def test_bad_files_name_the_field(tmp_path, edit, match):
    path = tmp_path / "camera.yaml"
    write_camera_info(path, K, D, (640, 480))
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match):
        load_camera_info(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_camera_info(tmp_path / "nope.yaml")


def test_camera_node_loader_reads_what_calibration_writes(tmp_path):
    # camera_node loads calibration files with robot_rl.ros_config.camera_info: the two must agree.
    from robot_rl.ros_config.camera_info import CameraCalibration

    path = tmp_path / "camera.yaml"
    write_camera_info(path, K, D, (640, 480), "wrist")
    cal = CameraCalibration.from_yaml(path)
    info = load_camera_info(path)
    assert (cal.image_width, cal.image_height, cal.camera_name) == (640, 480, "wrist")
    assert cal.k == info.msg["k"] and cal.d == info.msg["d"] and cal.p == info.msg["p"] and cal.r == info.msg["r"]
