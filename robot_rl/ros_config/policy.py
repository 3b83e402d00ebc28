"""Parameters of ``policy_node``: which policy, which inputs, how fresh they must be, where episodes go."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from robot_rl.config import StrictConfig
from robot_rl.robot.proprio import parse_source
from robot_rl.ros_config import topics


class PolicyNodeConfig(StrictConfig):
    """The policy node; ``checkpoint``, ``temperature`` and ``max_input_age_s`` may change at runtime."""

    spec: str = Field(default="tabletop",
                      description="embodiment spec (built-in name or YAML path); the policy must match it")
    checkpoint: str = Field(default="", description="policy checkpoint directory or .onnx file; "
                                                    "change it and call /robot_rl/reload_policy to hot-swap")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto = GPU when present")
    threads: int = Field(default=0, ge=0, le=256, description="onnxruntime intra-op threads; 0 = its default")
    temperature: float = Field(default=1.0, gt=0.0, le=100.0,
                               description="sampling temperature (the trainer must score with the same)")
    replan_every: int = Field(default=0, ge=0, le=256,
                              description="act every N control ticks (N actions of each chunk run); "
                                          "0 = the chunk length, like simulation rollouts")
    max_input_age_s: float = Field(default=0.3, gt=0.0, le=60.0,
                                   description="act only when every input (images, pose, joints) is younger")
    act_outside_episodes: bool = Field(default=False,
                                       description="act without a running episode (nothing is recorded then)")
    proprio_sources: list[str] = Field(default=[], description="FIELD=SOURCE per spec proprio field "
                                       "(ee_position, ee_position_xy, ee_axis_angle, ee_quaternion, "
                                       "joints:A,B); empty = guessed from the field names")
    joint_states_topic: str = Field(default=topics.JOINT_STATES, min_length=1)
    ee_pose_topic: str = Field(default=topics.EE_POSE, min_length=1)
    image_qos: Literal["sensor_data", "reliable"] = Field(default="sensor_data",
                                                          description="QoS of the camera subscriptions")
    resize_images: bool = Field(default=False, description="nearest-neighbour resize images to the spec size "
                                                           "instead of rejecting other sizes")
    buffer_path: str = Field(default="", description="rollout buffer to record episodes into (created if "
                                                     "missing); empty = record nothing")
    diagnostics_period_s: float = Field(default=1.0, gt=0.0, le=60.0)
    log_interval_s: float = Field(default=2.0, ge=0.0, le=600.0,
                                  description="at most one log line per reason per interval")

    @field_validator("proprio_sources")
    @classmethod
    def _sources_parse(cls, v: list[str]) -> list[str]:
        for entry in v:
            parse_source(entry)  # ValueError names the entry and the allowed sources
        return v
