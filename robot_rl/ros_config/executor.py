"""Parameters of ``action_executor``, the safety layer between the policy and the robot."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from robot_rl.config import StrictConfig
from robot_rl.errors import ConfigError
from robot_rl.wire import topics
from robot_rl.ros_config.policy import USE_SPEC
from robot_rl.safety.joint_limits import JointBounds, JointLimits
from robot_rl.safety.joint_trajectory import JointActionLayout, joint_action_layout
from robot_rl.safety.limits import SafetyLimits
from robot_rl.safety.watchdog import WatchdogConfig
from robot_rl.spec import EmbodimentSpec


class ExecutorConfig(StrictConfig):
    """What the executor listens to, what it commands, and the limits it enforces.

    The control rate, chunk length and action layout come from the embodiment ``spec``, so they
    cannot disagree with the policy's.
    """

    spec: str = Field(default="tabletop",
                      description="embodiment spec: a built-in name or a YAML path (rate, chunk shape, action limits)")
    dry_run: bool = Field(default=True,
                          description="run every check but publish no command; log what would be sent")
    command_type: Literal["pose", "twist", "joint_trajectory"] = Field(
        default="pose",
        description="pose: geometry_msgs/PoseStamped targets; twist: geometry_msgs/TwistStamped (MoveIt Servo); "
                    "joint_trajectory: trajectory_msgs/JointTrajectory (ros2_control), joint-space specs only")
    command_frame: str = Field(default="base_link", min_length=1,
                               description="frame of commands; the end-effector pose must be in it")
    pose_command_topic: str = Field(default=topics.COMMAND_POSE, min_length=1)
    twist_command_topic: str = Field(default=topics.COMMAND_TWIST, min_length=1)
    gripper_command_topic: str = Field(default=topics.COMMAND_GRIPPER,
                                       description="std_msgs/Float64 in the driver's units (gripper_command_range); "
                                                   "empty = do not command the gripper")
    gripper_command_range: list[float] = Field(
        default=[-1.0, 1.0], min_length=2, max_length=2,
        description="[CLOSED, OPEN]: the driver's gripper command for the spec's -1 (closed) and +1 (open); "
                    "values in between map linearly, e.g. [0.0, 0.08] for a Franka hand's width in m, "
                    "[0.8, 0.0] for a Robotiq 2F-85 knuckle in rad")
    ee_pose_topic: str = Field(default=topics.EE_POSE, min_length=1,
                               description="geometry_msgs/PoseStamped of the end effector, from the robot driver")
    joint_trajectory_topic: str = Field(default=topics.COMMAND_JOINT_TRAJECTORY, min_length=1,
                                        description="where joint_trajectory commands go (a ros2_control "
                                                    "joint_trajectory_controller's ~/joint_trajectory)")
    joint_states_topic: str = Field(default=topics.JOINT_STATES, min_length=1,
                                    description="sensor_msgs/JointState from the robot driver (joint_trajectory)")
    joint_names: list[str] = Field(default=[], description="the robot's names of the commanded joints, in the "
                                                           "spec's action order; empty = the spec's action names")
    max_joint_state_age_s: float = Field(default=0.25, gt=0.0, le=60.0,
                                         description="refuse to command from joint positions older than this")
    trajectory_points: int = Field(default=0, ge=0, le=256,
                                   description="points per JointTrajectory: the action due now and the next "
                                               "ones of the chunk; 0 = the rest of the chunk")
    joint_limits: JointLimits = JointLimits()
    heartbeat_topics: list[str] = Field(default=[topics.POLICY_HEARTBEAT],
                                        description="std_msgs/Header topics that must keep arriving; losing one stops")
    command_latency_s: float = Field(default=USE_SPEC, ge=USE_SPEC, le=5.0,
                                     description="command-to-motion latency L [s]: action i of a chunk stamped t is "
                                                 "sent at t + i / rate - L so it takes effect at t + i / rate; "
                                                 "-1 = the spec's latency.command_s")
    max_observation_age_s: float = Field(default=0.5, gt=0.0, le=60.0,
                                         description="refuse chunks computed from observations older than this")
    max_ee_pose_age_s: float = Field(default=0.25, gt=0.0, le=60.0,
                                     description="refuse to command from an end-effector pose older than this")
    stamp_pairing_timeout_s: float = Field(default=0.25, gt=0.0, le=10.0,
                                           description="a chunk waits this long for its stamp message")
    diagnostics_period_s: float = Field(default=1.0, gt=0.0, le=60.0)
    log_interval_s: float = Field(default=2.0, ge=0.0, le=600.0,
                                  description="at most one log line per refusal reason per interval")
    watchdog: WatchdogConfig = WatchdogConfig()
    limits: SafetyLimits = SafetyLimits()

    @field_validator("command_latency_s")
    @classmethod
    def _latency_or_spec(cls, v: float) -> float:
        if v != USE_SPEC and v < 0:
            raise ValueError(f"must be >= 0, or {USE_SPEC} for the spec's latency.command_s")
        return v

    def command_latency(self, spec: EmbodimentSpec) -> float:
        """The command latency in force [s]: the override, or the spec's measured ``latency.command_s``."""
        return spec.latency.command_s if self.command_latency_s == USE_SPEC else self.command_latency_s

    @field_validator("gripper_command_range")
    @classmethod
    def _gripper_range(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) for x in v) or v[0] == v[1]:
            raise ValueError(f"got {v}; expected [CLOSED, OPEN]: two finite, different driver values")
        return v

    def gripper_command(self, value: float) -> float:
        """The spec's gripper value (-1 closed .. +1 open) in the driver's units (``gripper_command_range``)."""
        closed, opened = self.gripper_command_range
        return closed + (float(value) + 1.0) * 0.5 * (opened - closed)

    @model_validator(mode="after")
    def _topics_distinct(self) -> ExecutorConfig:
        commands = (self.pose_command_topic, self.twist_command_topic, self.joint_trajectory_topic)
        for name in ("ee_pose_topic", "joint_states_topic"):
            if getattr(self, name) in commands:
                raise ValueError(f"{name} {getattr(self, name)!r} must differ from the command topics")
        if any(not n for n in self.joint_names) or len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"joint_names {self.joint_names} must be non-empty and unique")
        return self


_EE_DELTA_UNITS = ["m", "m", "m", "rad", "rad", "rad"]


def check_ee_delta_spec(spec: EmbodimentSpec) -> None:
    """Raise :class:`ConfigError` unless ``spec``'s action is an EE delta the executor can command.

    Allowed: ``[dx, dy, dz (m), drx, dry, drz (rad)]`` optionally followed by one ``normalized``
    gripper value. Joint-space actions go out as JointTrajectory (``command_type: joint_trajectory``).
    """
    units = [a.unit for a in spec.action]
    if units[:6] != _EE_DELTA_UNITS or len(units) > 7 or (len(units) == 7 and units[6] != "normalized"):
        raise ConfigError(f"command_type pose/twist: spec '{spec.name}': action units {units} are not an "
                          f"end-effector delta {_EE_DELTA_UNITS} (+ optional normalized gripper); joint-space "
                          "specs need command_type joint_trajectory")


@dataclass(frozen=True)
class JointCommandSetup:
    """What ``command_type: joint_trajectory`` needs, checked against the spec: layout, names, limits."""

    layout: JointActionLayout
    joint_names: tuple[str, ...]  # the robot's names, in action order
    bounds: JointBounds


def joint_command_setup(cfg: ExecutorConfig, spec: EmbodimentSpec) -> JointCommandSetup:
    """Check ``cfg`` against a joint-space ``spec``; :class:`ConfigError` naming the field otherwise."""
    layout = joint_action_layout(spec)
    names = tuple(cfg.joint_names) or layout.joint_names
    if len(names) != layout.n_joints:
        raise ConfigError(f"joint_names: {len(names)} names {list(names)} for the {layout.n_joints} joint "
                          f"dimensions of spec '{spec.name}' ({', '.join(layout.joint_names)})")
    return JointCommandSetup(layout, names, cfg.joint_limits.bounds(names))


def check_command_spec(cfg: ExecutorConfig, spec: EmbodimentSpec) -> JointCommandSetup | None:
    """Check that ``cfg.command_type`` can command ``spec``'s actions; the joint setup for joint_trajectory."""
    if cfg.command_type == "joint_trajectory":
        return joint_command_setup(cfg, spec)
    check_ee_delta_spec(spec)
    return None
