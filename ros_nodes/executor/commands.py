"""Build robot command messages from safe targets (the math lives in robot_rl.safety)."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import PoseStamped, TwistStamped
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robot_rl.rotations import quat_conj, quat_mul, quat_to_rotvec


def pose_command(position: np.ndarray, orientation: np.ndarray, stamp: Time, frame_id: str) -> PoseStamped:
    """Target pose: position (3,) [m], orientation (4,) ``(x, y, z, w)``."""
    msg = PoseStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    p, q = msg.pose.position, msg.pose.orientation
    p.x, p.y, p.z = (float(v) for v in position)
    q.x, q.y, q.z, q.w = (float(v) for v in orientation)
    return msg


def twist_command(current_pos: np.ndarray, current_quat: np.ndarray, target_pos: np.ndarray,
                  target_quat: np.ndarray, dt: float, stamp: Time, frame_id: str) -> TwistStamped:
    """The constant twist that moves the current pose to the target in ``dt`` seconds (base frame)."""
    linear = (np.asarray(target_pos) - np.asarray(current_pos)) / dt
    angular = quat_to_rotvec(quat_mul(target_quat, quat_conj(current_quat))) / dt
    return _twist(linear, angular, stamp, frame_id)


def zero_twist(stamp: Time, frame_id: str) -> TwistStamped:
    return _twist(np.zeros(3), np.zeros(3), stamp, frame_id)


def _twist(linear: np.ndarray, angular: np.ndarray, stamp: Time, frame_id: str) -> TwistStamped:
    msg = TwistStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (float(v) for v in linear)
    msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = (float(v) for v in angular)
    return msg


def joint_trajectory_command(joint_names: tuple[str, ...] | list[str], positions: np.ndarray,
                             time_from_start: np.ndarray, stamp: Time, frame_id: str) -> JointTrajectory:
    """JointTrajectory through ``positions`` (m, J) [rad], point k reached ``time_from_start[k]`` s after ``stamp``.

    ros2_control's joint_trajectory_controller starts a trajectory at ``header.stamp`` (now, as
    sent) and replaces the one it was following.
    """
    msg = JointTrajectory()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.joint_names = list(joint_names)
    for row, t in zip(np.asarray(positions, dtype=np.float64), np.asarray(time_from_start, dtype=np.float64)):
        ns = int(round(float(t) * 1e9))
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in row],
                                               time_from_start=Duration(sec=ns // 1_000_000_000,
                                                                        nanosec=ns % 1_000_000_000)))
    return msg
