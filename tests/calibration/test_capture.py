"""Sample capture logic without ROS: pairing by stamp, stillness, and a folder that grows across restarts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CHARUCO

from calibration.capture import HandEyeCaptureConfig, PoseHistory, SampleRecorder
from calibration.handeye_samples import load_samples
from calibration.transforms import make_T, rvec_to_R
from robot_rl.config import validate_config
from robot_rl.errors import ConfigError

CFG = HandEyeCaptureConfig()


def test_pose_nearest_the_image_stamp_when_still():
    h = PoseHistory()
    T = make_T(rvec_to_R([0.1, 0.2, 0.3]), [0.4, 0.0, 0.3])
    for k in range(50):
        h.add(10.0 + 0.01 * k, T)
    assert np.array_equal(h.pose_at(10.25, CFG), T)
    assert "no robot pose within 0.05 s" in h.pose_at(11.0, CFG)
    h.add(9.0, T)  # out of order: ignored
    assert len(h) == 50


def test_motion_around_the_image_is_refused():
    h = PoseHistory()
    for k in range(50):
        t = 10.0 + 0.01 * k
        h.add(t, make_T(rvec_to_R([0.0, 0.0, 0.02 * k]), [0.4, 0.0, 0.3]))  # turning ~1.1 deg every 10 ms
    assert h.pose_at(10.25, CFG).startswith("robot is moving")
    assert PoseHistory().pose_at(1.0, CFG) == "no robot pose received on 'eef_pose'"


def test_recorder_writes_a_loadable_folder_and_continues_it(tmp_path):
    rec = SampleRecorder(tmp_path, CHARUCO)
    img = np.zeros((48, 64, 3), np.uint8)
    assert rec.add(img, np.eye(4)) == "sample_000.png"
    assert rec.add(img, make_T(np.eye(3), [0.1, 0, 0])) == "sample_001.png"
    again = SampleRecorder(tmp_path, CHARUCO)  # node restarted: numbering continues
    assert len(again) == 2 and again.add(img, np.eye(4)) == "sample_002.png"
    with pytest.raises(ConfigError, match="no intrinsics"):
        load_samples(tmp_path)  # images need intrinsics to become board poses
    assert (tmp_path / "sample_002.png").is_file()


def test_capture_config_validates_the_board():
    with pytest.raises(ConfigError, match="squares"):
        validate_config(HandEyeCaptureConfig, {"squares": "7by5"}).board()
    with pytest.raises(ConfigError, match="board_kind"):
        validate_config(HandEyeCaptureConfig, {"board_kind": "circles"})
    assert CFG.board().num_corners == 24
