"""camera_node config and the ROS camera_info calibration format."""

from __future__ import annotations

import pytest

from robot_rl.config import validate_config
from robot_rl.errors import ConfigError
from robot_rl.ros_config import CameraNodeConfig
from robot_rl.ros_config.camera_info import CameraCalibration


def test_calibration_yaml_in_ros_camera_info_format(tmp_path):
    path = tmp_path / "cal.yaml"
    path.write_text(
        "image_width: 640\nimage_height: 480\ncamera_name: wrist\n"
        "camera_matrix: {rows: 3, cols: 3, data: [600, 0, 320, 0, 601, 240, 0, 0, 1]}\n"
        "distortion_model: plumb_bob\n"
        "distortion_coefficients: {rows: 1, cols: 5, data: [0.1, -0.2, 0, 0, 0.05]}\n"
        "rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}\n")
    cal = CameraCalibration.from_yaml(path)
    assert cal.k[0] == 600 and cal.d == [0.1, -0.2, 0, 0, 0.05]
    assert cal.p == [600, 0, 320, 0, 0, 601, 240, 0, 0, 0, 1, 0]  # [K | 0] when the file has no P
    path.write_text("image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [1, 2]}\n")
    with pytest.raises(ConfigError, match="camera_matrix"):
        CameraCalibration.from_yaml(path)


def test_camera_config_checks():
    assert CameraNodeConfig(camera_name="wrist").resolved_frame_id == "wrist_optical_frame"
    with pytest.raises(ConfigError, match="enable_depth"):
        validate_config(CameraNodeConfig, {"source": "opencv", "enable_depth": True})
    with pytest.raises(ConfigError, match="reconnect_initial_s"):
        validate_config(CameraNodeConfig, {"reconnect_initial_s": 10, "reconnect_max_s": 1})
    with pytest.raises(ConfigError, match="source"):
        validate_config(CameraNodeConfig, {"source": "kinect"})
