"""The robot graph against a simulator dressed as the robot (no hardware needed).

    ros2 launch robot_rl sim_robot.launch.py checkpoint:=/path/to/policy buffer_path:=runs/sim/rollouts.zarr
    ros2 launch robot_rl sim_robot.launch.py ... reality:=lab use_sim_time:=true   # a lab, on sim time

The spec is named once (launch/config/common.yaml's ``/**`` section, or ``spec:=...``).

sim_robot_node (MuJoCo tabletop: cameras, joint states, end-effector pose, success events),
policy_node and action_executor (dry_run off: nothing physical moves). Parameter files come from the
package share (launch/config/*.yaml); tests check every executable and file. Without ``ros2 launch``:
``robot-rl up sim_robot`` starts the same nodes (launch/graphs/sim_robot.yaml).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from robot_rl.yaml_loader import load_yaml  # PyYAML only: works in the distribution's Python


def _common_spec(path):
    """The spec named in common.yaml's ``/**`` section: the one default of the ``spec`` argument."""
    return str(load_yaml(path)["/**"]["ros__parameters"]["spec"])


def generate_launch_description():
    # common.yaml comes after each node's own file: rclpy applies a node's parameter sections in the
    # order they first appear, and the launch arguments below (written by launch_ros as a `/**`
    # section) must come after the node's file to override it (launch/config/common.yaml).
    share = get_package_share_directory("robot_rl")
    common_yaml = os.path.join(share, "launch", "config", "common.yaml")
    sim_yaml = os.path.join(share, "launch", "config", "sim_robot.yaml")
    policy_yaml = os.path.join(share, "launch", "config", "policy.yaml")
    executor_yaml = os.path.join(share, "launch", "config", "executor_sim.yaml")
    spec = {"spec": LaunchConfiguration("spec")}
    # Rehearsal: the stand-in publishes /clock and every other node follows it (docs/ros.md, "Sim time").
    sim_time = {"use_sim_time": LaunchConfiguration("use_sim_time")}
    stand_in = {"reality": LaunchConfiguration("reality"), "publish_clock": LaunchConfiguration("use_sim_time")}
    return LaunchDescription([
        DeclareLaunchArgument("spec", default_value=_common_spec(common_yaml),
                              description="embodiment spec (name or YAML path) of every node that has one"),
        DeclareLaunchArgument("sim_params", default_value=sim_yaml, description="sim_robot_node parameter file"),
        DeclareLaunchArgument("policy_params", default_value=policy_yaml, description="policy_node parameter file"),
        DeclareLaunchArgument("executor_params", default_value=executor_yaml,
                              description="action_executor parameter file (sim workspace, dry_run off)"),
        DeclareLaunchArgument("checkpoint", default_value="", description="policy checkpoint dir or .onnx file"),
        DeclareLaunchArgument("buffer_path", default_value="", description="rollout buffer to record into"),
        DeclareLaunchArgument("reality", default_value="none",
                              description="the stand-in's reality profile: none | lab | hard (docs/reality.md)"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="the stand-in publishes /clock (publish_clock) and every node follows it"),
        # Image topics over Fast DDS need the large-data transports (docs/ros.md).
        SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA"),
        SetEnvironmentVariable("MUJOCO_GL", "egl"),
        Node(package="robot_rl", executable="sim_robot_node", name="sim_robot", output="screen",
             parameters=[LaunchConfiguration("sim_params"), common_yaml, stand_in]),
        Node(package="robot_rl", executable="policy_node", name="policy_node", output="screen",
             parameters=[LaunchConfiguration("policy_params"), common_yaml, spec,
                         {"checkpoint": LaunchConfiguration("checkpoint"),
                          "buffer_path": LaunchConfiguration("buffer_path")}, sim_time]),
        Node(package="robot_rl", executable="action_executor", name="action_executor", output="screen",
             parameters=[LaunchConfiguration("executor_params"), common_yaml, spec, sim_time]),
    ])
