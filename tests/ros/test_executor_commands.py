"""Command messages built from a safe target: known answers for pose, twist and joint trajectory."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time

from robot_rl.rotations import quat_from_rotvec
from ros_nodes.executor.commands import joint_trajectory_command, pose_command, twist_command, zero_twist


def test_twist_reaches_the_target_in_one_period():
    q0 = quat_from_rotvec([0.0, 0.0, 0.3])
    q1 = quat_from_rotvec([0.0, 0.0, 0.4])
    msg = twist_command(np.array([0.5, 0.0, 0.3]), q0, np.array([0.52, -0.01, 0.3]), q1, 0.1, Time(sec=3), "base")
    lin, ang = msg.twist.linear, msg.twist.angular
    np.testing.assert_allclose([lin.x, lin.y, lin.z], [0.2, -0.1, 0.0], atol=1e-9)
    np.testing.assert_allclose([ang.x, ang.y, ang.z], [0.0, 0.0, 1.0], atol=1e-9)
    assert msg.header.frame_id == "base" and msg.header.stamp.sec == 3
    z = zero_twist(Time(), "base").twist
    assert (z.linear.x, z.linear.y, z.linear.z, z.angular.x, z.angular.y, z.angular.z) == (0.0,) * 6


def test_pose_command_carries_the_target():
    msg = pose_command(np.array([0.1, 0.2, 0.3]), np.array([0.0, 0.0, 0.0, 1.0]), Time(sec=1), "base")
    p, q = msg.pose.position, msg.pose.orientation
    assert (p.x, p.y, p.z, q.w) == (0.1, 0.2, 0.3, 1.0)


def test_joint_trajectory_command_carries_names_points_and_times():
    msg = joint_trajectory_command(("a", "b"), np.array([[0.1, -0.2], [0.3, 0.4]]), np.array([0.1, 1.25]),
                                   Time(sec=7, nanosec=5), "base")
    assert msg.joint_names == ["a", "b"] and msg.header.frame_id == "base" and msg.header.stamp.sec == 7
    assert [list(p.positions) for p in msg.points] == [[0.1, -0.2], [0.3, 0.4]]
    assert [(p.time_from_start.sec, p.time_from_start.nanosec) for p in msg.points] == [(0, 100_000_000),
                                                                                         (1, 250_000_000)]
