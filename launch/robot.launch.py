"""Bring up the robot side of robot_rl on a workstation with a full ROS 2 install.

    ros2 launch robot_rl robot.launch.py                 # dry run: the executor sends nothing
    ros2 launch robot_rl robot.launch.py dry_run:=false  # commands go to the robot
    ros2 launch robot_rl robot.launch.py checkpoint:=/path/to/policy   # the policy to run
    ros2 launch robot_rl robot.launch.py label_params:=my_label.yaml    # panel on another address/port

Parameter files come from the package share (launch/config/*.yaml); every executable below is a
console script of this package (tests check both). See docs/ros.md for the graph. Without
``ros2 launch``: ``robot-rl up robot`` starts the same nodes (launch/graphs/robot.yaml).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory("robot_rl")
    cameras_yaml = os.path.join(share, "launch", "config", "cameras.yaml")
    executor_yaml = os.path.join(share, "launch", "config", "executor.yaml")
    policy_yaml = os.path.join(share, "launch", "config", "policy.yaml")
    label_yaml = os.path.join(share, "launch", "config", "label.yaml")
    dry_run = LaunchConfiguration("dry_run")
    return LaunchDescription([
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
        Node(package="robot_rl", executable="camera_node", name="agentview_camera", output="screen",
             parameters=[LaunchConfiguration("cameras_params")]),
        Node(package="robot_rl", executable="camera_node", name="wrist_camera", output="screen",
             parameters=[LaunchConfiguration("cameras_params")]),
        Node(package="robot_rl", executable="policy_node", name="policy_node", output="screen",
             parameters=[LaunchConfiguration("policy_params"), {"checkpoint": LaunchConfiguration("checkpoint")}]),
        Node(package="robot_rl", executable="action_executor", name="action_executor", output="screen",
             parameters=[LaunchConfiguration("executor_params"), {"dry_run": dry_run}]),
        # The operator panel: http://127.0.0.1:8080/ by default (docs/panel.md).
        Node(package="robot_rl", executable="success_label_node", name="success_label_node", output="screen",
             parameters=[LaunchConfiguration("label_params")]),
    ])
