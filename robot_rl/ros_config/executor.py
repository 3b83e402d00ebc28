"""Parameters of ``action_executor``, the safety layer between the policy and the robot."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from robot_rl.config import StrictConfig
from robot_rl.errors import ConfigError
from robot_rl.ros_config import topics
from robot_rl.ros_config.policy import USE_SPEC
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
    command_type: Literal["pose", "twist"] = Field(
        default="pose",
        description="pose: geometry_msgs/PoseStamped targets; twist: geometry_msgs/TwistStamped (MoveIt Servo)")
    command_frame: str = Field(default="base_link", min_length=1,
                               description="frame of commands; the end-effector pose must be in it")
    pose_command_topic: str = Field(default=topics.COMMAND_POSE, min_length=1)
    twist_command_topic: str = Field(default=topics.COMMAND_TWIST, min_length=1)
    gripper_command_topic: str = Field(default=topics.COMMAND_GRIPPER,
                                       description="std_msgs/Float64 in [-1, 1]; empty = do not command the gripper")
    ee_pose_topic: str = Field(default=topics.EE_POSE, min_length=1,
                               description="geometry_msgs/PoseStamped of the end effector, from the robot driver")
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

    @model_validator(mode="after")
    def _topics_distinct(self) -> ExecutorConfig:
        if self.ee_pose_topic in (self.pose_command_topic, self.twist_command_topic):
            raise ValueError(f"ee_pose_topic {self.ee_pose_topic!r} must differ from the command topics")
        return self


_EE_DELTA_UNITS = ["m", "m", "m", "rad", "rad", "rad"]


def check_ee_delta_spec(spec: EmbodimentSpec) -> None:
    """Raise :class:`ConfigError` unless ``spec``'s action is an EE delta the executor can command.

    Allowed: ``[dx, dy, dz (m), drx, dry, drz (rad)]`` optionally followed by one ``normalized``
    gripper value. Joint-space actions would need a JointTrajectory path (not implemented).
    """
    units = [a.unit for a in spec.action]
    if units[:6] != _EE_DELTA_UNITS or len(units) > 7 or (len(units) == 7 and units[6] != "normalized"):
        raise ConfigError(f"spec '{spec.name}': action units {units} are not an end-effector delta "
                          f"{_EE_DELTA_UNITS} (+ optional normalized gripper); action_executor commands "
                          "poses/twists from EE deltas only")
