"""handeye_capture_node as a real process over real DDS: samples captured from live topics, refusals
explained, and the written folder calibrates to the true hand-eye transform."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import CHARUCO, D_TRUE, K_TRUE, SIZE

from calibration.camera_info import load_camera_info, write_camera_info
from calibration.handeye import solve_handeye
from calibration.handeye_samples import load_samples
from calibration.synthetic import random_views, render_board_view
from calibration.transforms import inv_T, make_T, rotation_angle_deg, rvec_to_R
from robot_rl.rotations import quat_from_matrix

rclpy = pytest.importorskip("rclpy")
pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _pose_msg(T: np.ndarray, t: float):
    from geometry_msgs.msg import PoseStamped

    from ros_nodes.messages import s_to_stamp

    msg = PoseStamped()
    msg.header.stamp = s_to_stamp(t)
    msg.header.frame_id = "base"
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in T[:3, 3])
    q = quat_from_matrix(T[:3, :3])
    msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = (
        float(v) for v in q
    )
    return msg


def test_capture_node_records_a_calibratable_folder(tmp_path):
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_srvs.srv import Trigger

    from ros_nodes import qos
    from ros_nodes.messages import image_to_msg, s_to_stamp

    rng = np.random.default_rng(31)
    X = make_T(rvec_to_R([0.1, 0.05, -1.5]), [0.03, 0.05, 0.07])  # T_gripper_cam
    T_base_board = make_T(rvec_to_R([np.pi, 0.0, -0.2]), [0.5, -0.1, 0.0])
    views = random_views(CHARUCO, 8, rng)
    images = [np.repeat(render_board_view(CHARUCO, K_TRUE, D_TRUE, SIZE, T, rng)[:, :, None], 3, axis=2) for T in views]
    poses = [T_base_board @ inv_T(T_cb) @ inv_T(X) for T_cb in views]
    write_camera_info(tmp_path / "camera.yaml", K_TRUE, D_TRUE, SIZE)
    out_dir = tmp_path / "samples"

    domain = random.randint(1, 200)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), FASTDDS_BUILTIN_TRANSPORTS="LARGE_DATA", PYTHONUNBUFFERED="1")
    log_path = tmp_path / "node.log"
    exe = str(Path(sys.executable).with_name("handeye_capture"))
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                exe,
                "--ros-args",
                "-p",
                f"out_dir:={out_dir}",
                "-p",
                "image_topic:=cam/image_raw",
                "-p",
                "pose_topic:=eef_pose",
                "-p",
                f"intrinsics_file:={tmp_path / 'camera.yaml'}",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("capture_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        image_pub = node.create_publisher(Image, "cam/image_raw", qos.RELIABLE)
        from geometry_msgs.msg import PoseStamped

        pose_pub = node.create_publisher(PoseStamped, "eef_pose", qos.RELIABLE)
        client = node.create_client(Trigger, "/handeye_capture/capture")
        end = time.monotonic() + 30
        while not client.service_is_ready():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < end, "capture service never appeared\n" + log_path.read_text()
            executor.spin_once(timeout_sec=0.1)

        def call() -> Trigger.Response:
            future = client.call_async(Trigger.Request())
            deadline = time.monotonic() + 15
            while not future.done():
                assert time.monotonic() < deadline, "capture call timed out\n" + log_path.read_text()
                executor.spin_once(timeout_sec=0.05)
            return future.result()

        def publish(image: np.ndarray, t_img: float, pose_at) -> None:
            # A pose stream at 50 Hz around the image's stamp, then the image; repeated until delivered.
            for _ in range(3):
                for k in range(-10, 11):
                    pose_pub.publish(_pose_msg(pose_at(t_img + 0.02 * k), t_img + 0.02 * k))
                image_pub.publish(image_to_msg(image, "rgb8", s_to_stamp(t_img), "cam"))
                end = time.monotonic() + 0.3
                while time.monotonic() < end:
                    executor.spin_once(timeout_sec=0.02)

        first = call()
        assert not first.success and "no image received on 'cam/image_raw'" in first.message

        # The robot still moving while the image was taken: refused.
        publish(images[0], 50.0, lambda t: poses[0] @ make_T(np.eye(3), [0.05 * (t - 50.0), 0, 0]))
        moving = call()
        assert not moving.success and "robot is moving" in moving.message

        for i, (img, T) in enumerate(zip(images, poses)):
            publish(img, 100.0 + 10 * i, lambda t, T=T: T)
            res = call()
            assert res.success, res.message
            assert res.message.startswith(f"saved sample_{i:03d}.png")
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log_path.read_text()

    samples = load_samples(out_dir)  # intrinsics come from the file's 'intrinsics:' entry
    assert len(samples) == 8 and not samples.rejected
    assert samples.camera is not None and samples.camera.size == load_camera_info(tmp_path / "camera.yaml").size
    result = solve_handeye(samples, "eye_in_hand", "tsai")
    assert rotation_angle_deg(result.X[:3, :3].T @ X[:3, :3]) < 0.5
    assert np.linalg.norm(result.X[:3, 3] - X[:3, 3]) < 0.002
