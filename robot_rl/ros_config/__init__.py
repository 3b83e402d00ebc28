"""Typed configs of the ROS 2 nodes, and the ROS-parameter mapping, with no ROS import.

The nodes in ``ros_nodes`` declare their ROS parameters from these models (the models hold the
only defaults) and validate every value, from a parameter file or a runtime change, through them.
:data:`NODE_CONFIGS` maps each node executable to its config, which is how launch files and
parameter files are checked in tests without ROS running.
"""

from robot_rl.ros_config.camera import CameraNodeConfig
from robot_rl.ros_config.executor import ExecutorConfig
from robot_rl.ros_config.label import LabelNodeConfig
from robot_rl.ros_config.params_file import ParamField, load_node_params, node_section, parameter_fields
from robot_rl.ros_config.policy import PolicyNodeConfig
from robot_rl.ros_config.rehearsal_operator import OperatorConfig
from robot_rl.ros_config.sim_robot import SimRobotConfig

NODE_CONFIGS = {
    "camera_node": CameraNodeConfig,
    "action_executor": ExecutorConfig,
    "policy_node": PolicyNodeConfig,
    "sim_robot_node": SimRobotConfig,
    "success_label_node": LabelNodeConfig,
    "rehearsal_operator": OperatorConfig,
}
"""Executable name (console script) -> the config its parameters validate against."""

__all__ = ["NODE_CONFIGS", "CameraNodeConfig", "ExecutorConfig", "LabelNodeConfig",
           "OperatorConfig", "PolicyNodeConfig", "SimRobotConfig", "ParamField", "load_node_params",
           "node_section", "parameter_fields"]
