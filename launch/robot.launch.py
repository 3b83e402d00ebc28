"""Bring up the robot side of robot_rl on a workstation with a full ROS 2 install.

    ros2 launch robot_rl robot.launch.py                 # dry run: the executor sends nothing
    ros2 launch robot_rl robot.launch.py dry_run:=false  # commands go to the robot
    ros2 launch robot_rl robot.launch.py checkpoint:=/path/to/policy   # the policy to run
    ros2 launch robot_rl robot.launch.py label_params:=my_label.yaml    # panel on another address/port
    ros2 launch robot_rl robot.launch.py spec:=/path/to/my_robot.yaml  # the robot's spec, for every node
    ros2 launch robot_rl robot.launch.py robot_profile:=ur_realsense   # UR + MoveIt Servo + realsense-ros
    ros2 launch robot_rl robot.launch.py robot_profile:=franka_realsense

The spec is named once: the ``/**`` section of launch/config/common.yaml, or of the robot profile
(launch/config/profiles/NAME.yaml, layered after common.yaml), or the ``spec`` argument. A profile
whose images come from realsense-ros (policy_node ``image_topics``) starts no camera_node.

Parameter files come from the package share (launch/config/*.yaml); every executable below is a
console script of this package (tests check both). See docs/ros.md for the graph. Without
``ros2 launch``: ``robot-rl up robot`` starts the same nodes (launch/graphs/robot.yaml).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from robot_rl.yaml_loader import load_yaml  # PyYAML only: works in the distribution's Python


def _profile(share, name):
    """The robot profile file ``name`` and whether its images come from another driver (no camera_node then)."""
    folder = os.path.join(share, "launch", "config", "profiles")
    path = os.path.join(folder, f"{name}.yaml")
    if not os.path.isfile(path):
        known = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml"))
        raise RuntimeError(f"robot_profile:={name}: allowed: {', '.join(known)}")
    data = load_yaml(path)
    policy = (data.get("policy_node") or {}).get("ros__parameters") or {}
    return path, bool(policy.get("image_topics"))


def generate_launch_description():
    # common.yaml comes after each node's own file: rclpy applies a node's parameter sections in the
    # order they first appear, and the launch arguments below (written by launch_ros as a `/**`
    # section) must come after the node's file to override it (launch/config/common.yaml).
    share = get_package_share_directory("robot_rl")
    common_yaml = os.path.join(share, "launch", "config", "common.yaml")
    cameras_yaml = os.path.join(share, "launch", "config", "cameras.yaml")
    executor_yaml = os.path.join(share, "launch", "config", "executor.yaml")
    policy_yaml = os.path.join(share, "launch", "config", "policy.yaml")
    label_yaml = os.path.join(share, "launch", "config", "label.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("robot_profile", default_value="default",
                              description="robot profile: default, ur_realsense, franka_realsense "
                                          "(launch/config/profiles/NAME.yaml, docs/ros.md)"),
        DeclareLaunchArgument("spec", default_value="",
                              description="embodiment spec (name or YAML path) of every node that has one; "
                                          "empty = common.yaml's, or the robot profile's"),
        DeclareLaunchArgument("dry_run", default_value="true",
                              description="run every safety check but publish no robot command"),
        DeclareLaunchArgument("cameras_params", default_value=cameras_yaml,
                              description="camera_node parameter file"),
        DeclareLaunchArgument("executor_params", default_value=executor_yaml,
                              description="action_executor parameter file"),
        DeclareLaunchArgument("policy_params", default_value=policy_yaml,
                              description="policy_node parameter file"),
        DeclareLaunchArgument("label_params", default_value=label_yaml,
                              description="success_label_node (operator panel) parameter file"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="policy checkpoint directory or .onnx file"),
        # Image topics over Fast DDS need the large-data transports (docs/ros.md).
        SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA"),
        OpaqueFunction(function=_nodes, args=[share, common_yaml]),
    ])


def _nodes(context, share, common_yaml):
    profile_yaml, external_cameras = _profile(share, LaunchConfiguration("robot_profile").perform(context))
    spec_arg = LaunchConfiguration("spec").perform(context)
    spec = [{"spec": spec_arg}] if spec_arg else []
    dry_run = LaunchConfiguration("dry_run")
    cameras = [] if external_cameras else [
        Node(package="robot_rl", executable="camera_node", name="agentview_camera", output="screen",
             parameters=[LaunchConfiguration("cameras_params"), common_yaml, profile_yaml]),
        Node(package="robot_rl", executable="camera_node", name="wrist_camera", output="screen",
             parameters=[LaunchConfiguration("cameras_params"), common_yaml, profile_yaml]),
    ]
    return [
        *cameras,
        Node(package="robot_rl", executable="policy_node", name="policy_node", output="screen",
             parameters=[LaunchConfiguration("policy_params"), common_yaml, profile_yaml, *spec,
                         {"checkpoint": LaunchConfiguration("checkpoint")}]),
        Node(package="robot_rl", executable="action_executor", name="action_executor", output="screen",
             parameters=[LaunchConfiguration("executor_params"), common_yaml, profile_yaml, *spec,
                         {"dry_run": dry_run}]),
        # The operator panel: http://127.0.0.1:8080/ by default (docs/panel.md).
        Node(package="robot_rl", executable="success_label_node", name="success_label_node", output="screen",
             parameters=[LaunchConfiguration("label_params"), common_yaml, profile_yaml, *spec]),
    ]
