"""Calibration tools an operator runs once per setup: OpenCV in, numpy and YAML out.

- :mod:`calibration.boards`: ChArUco / chessboard targets and their detection.
- :mod:`calibration.intrinsics`: camera matrix and distortion from board images, per-view errors.
- :mod:`calibration.camera_info`: the ROS camera_info YAML that camera_node loads.
- :mod:`calibration.handeye`: eye-in-hand / eye-to-hand extrinsics, residuals, pose-diversity check.
- :mod:`calibration.handeye_refine`: joint refinement of a hand-eye solution on corner reprojection error.
- :mod:`calibration.handeye_samples`: the recorded (robot pose, board image or board pose) samples file.
- :mod:`calibration.capture`: pairing live images with robot poses into a samples folder (used by
  ``ros_nodes/handeye_capture_node.py``).
- :mod:`calibration.latency`: camera and command-to-motion delays from recorded traces.
- :mod:`calibration.sim_camera`: calibrated camera -> MuJoCo camera pose and field of view.
- :mod:`calibration.synthetic`: rendered board views and hand-eye sets with known answers (tests, bench).
- :mod:`calibration.cli`: ``robot-rl calibrate ...``.

This package imports ``robot_rl``; ``robot_rl`` never imports it (the CLI command arrives
through the ``robot_rl.cli`` entry point).
"""
