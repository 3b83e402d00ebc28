"""Frame sources in-process: the software device through the syncer, OpenCV on a video file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from robot_rl.ros_config import CameraNodeConfig
from ros_nodes.camera.frame import SourceError
from ros_nodes.camera.sources import make_source
from ros_nodes.camera.software import test_pattern as pattern


def test_software_device_gives_synced_colour_and_aligned_depth():
    src = make_source(CameraNodeConfig(source="software", width=64, height=48, enable_depth=True,
                                       read_timeout_ms=1000))
    src.open()
    try:
        for _ in range(5):
            frame = src.read()
            color, depth = pattern(frame.frame_number, 48, 64)
            assert np.array_equal(frame.color, color)
            holes = frame.depth == 0
            assert holes.mean() < 0.05 and np.array_equal(frame.depth[~holes], depth[~holes])
            assert frame.capture_time_ns is not None
        assert src.calibration().k[0] == pytest.approx(0.8 * 64)
    finally:
        src.close()
        src.close()  # closing twice is safe


def test_opencv_source_reads_rgb_and_fails_cleanly(tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    bgr = np.zeros((24, 32, 3), np.uint8)
    bgr[..., 2] = 200  # red in BGR
    for _ in range(3):
        writer.write(bgr)
    writer.release()
    src = make_source(CameraNodeConfig(source="opencv", device=str(video), width=32, height=24))
    src.open()
    frame = src.read()
    assert frame.color.shape == (24, 32, 3)
    assert frame.color[..., 0].mean() > 150 and frame.color[..., 2].mean() < 50  # now RGB
    src.read(), src.read()
    with pytest.raises(SourceError, match="returned no frame"):
        src.read()  # end of the clip = camera gone
    src.close()
    with pytest.raises(SourceError, match="cannot open"):
        make_source(CameraNodeConfig(source="opencv", device=str(tmp_path / "missing.avi"))).open()
