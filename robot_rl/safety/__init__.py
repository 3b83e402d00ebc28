"""The safety layer's pure logic (docs/ros.md, Bring-up and safety): no ROS, no clocks of its own, no I/O.

Everything here takes the current time as an argument so it can be tested with known answers:

- :mod:`~robot_rl.safety.limits`: workspace box, per-step and velocity clamps, NaN/inf rejection.
- quaternion / axis-angle arithmetic comes from :mod:`robot_rl.rotations`, the core's one rotation convention.
- :mod:`~robot_rl.safety.schedule`: absolute target times for the actions of a chunk, late ones dropped.
- :mod:`~robot_rl.safety.watchdog`: e-stop latch, heartbeats, stale chunks and observations -> mode.
- :mod:`~robot_rl.safety.refusals`: refusal reasons, their counts and rate-limited logging.
- :mod:`~robot_rl.safety.motion_reference`: the pose each delta adds to: the previous target while motion is continuous.
- :mod:`~robot_rl.safety.joint_limits`, :mod:`~robot_rl.safety.joint_trajectory`,
  :mod:`~robot_rl.safety.joint_state`: joint-space chunks -> safe JointTrajectory points.

``robot_rl.nodes.executor`` decides with these; ``ros_nodes.executor`` feeds it messages and publishes the result.
"""

from robot_rl.safety.joint_limits import JointBounds, JointLimits
from robot_rl.safety.joint_state import JointStateCache
from robot_rl.safety.joint_trajectory import JointActionLayout, JointPlan, joint_action_layout, plan_joint_trajectory
from robot_rl.safety.limits import SafetyLimits, StepOutcome, apply_ee_delta, check_finite
from robot_rl.safety.refusals import Reason, RefusalLog
from robot_rl.safety.schedule import ChunkSchedule
from robot_rl.safety.motion_reference import MotionReference
from robot_rl.safety.watchdog import Mode, Watchdog, WatchdogConfig

__all__ = [
    "ChunkSchedule",
    "JointActionLayout",
    "JointBounds",
    "JointLimits",
    "JointPlan",
    "JointStateCache",
    "Mode",
    "Reason",
    "RefusalLog",
    "SafetyLimits",
    "StepOutcome",
    "MotionReference",
    "Watchdog",
    "WatchdogConfig",
    "apply_ee_delta",
    "check_finite",
    "joint_action_layout",
    "plan_joint_trajectory",
]
