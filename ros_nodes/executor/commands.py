"""Build robot command messages from safe targets (the math lives in robot_rl.safety and robot_rl.nodes.commands)."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import PoseStamped, TwistStamped
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robot_rl.nodes.commands import Command, JointCommand, PoseCommand, TwistCommand, twist_between


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
    twist = twist_between(current_pos, current_quat, target_pos, target_quat, dt)
    return _twist(twist.linear, twist.angular, stamp, frame_id)


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


def command_msg(command: Command, joint_names: tuple[str, ...] | list[str], stamp: Time,
                frame_id: str) -> PoseStamped | TwistStamped | JointTrajectory:
    """The message for a command the executor core decided (``joint_names`` only for joint commands)."""
    if isinstance(command, PoseCommand):
        return pose_command(command.position, command.orientation, stamp, frame_id)
    if isinstance(command, TwistCommand):
        return _twist(command.linear, command.angular, stamp, frame_id)
    if isinstance(command, JointCommand):
        return joint_trajectory_command(joint_names, command.positions, command.time_from_start, stamp, frame_id)
    raise TypeError(f"not a robot command: {type(command).__name__}; "
                    "expected PoseCommand, TwistCommand or JointCommand")
