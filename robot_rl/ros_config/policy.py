"""Parameters of ``policy_node``: which policy, which inputs, how fresh they must be, where episodes go."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from robot_rl.config import StrictConfig
from robot_rl.robot.proprio import parse_source
from robot_rl.robot.trigger import ActOn
from robot_rl.wire import topics
from robot_rl.spec import EmbodimentSpec

USE_SPEC = -1.0  # a latency override with this value means "the embodiment spec's measured latency"


class PolicyNodeConfig(StrictConfig):
    """The policy node; ``checkpoint``, ``temperature`` and ``max_input_age_s`` may change at runtime."""

    spec: str = Field(default="tabletop",
                      description="embodiment spec (built-in name or YAML path); the policy must match it")
    checkpoint: str = Field(default="", description="policy checkpoint directory or .onnx file; "
                                                    "change it and call /robot_rl/reload_policy to hot-swap")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto = GPU when present")
    threads: int = Field(default=0, ge=0, le=256, description="onnxruntime intra-op threads; 0 = its default")
    temperature: float = Field(default=1.0, gt=0.0, le=100.0,
                               description="sampling temperature, taken at each episode's start and recorded with it "
                                           "(the trainer must score with the same)")
    replan_every: int = Field(default=0, ge=0, le=256,
                              description="act every N control ticks (N actions of each chunk run); "
                                          "0 = the chunk length, like simulation rollouts")
    max_input_age_s: float = Field(default=0.3, gt=0.0, le=60.0,
                                   description="act only when every input (images, pose, joints) is younger")
    act_on: ActOn = Field(default="frame",
                          description="frame: decide as soon as every camera delivered a frame after the control "
                                      "tick (waiting at most half a control period); tick: decide at the tick with "
                                      "the newest inputs")
    camera_latency_s: float = Field(default=USE_SPEC, ge=USE_SPEC, le=10.0,
                                    description="how much later image stamps are than the moment they show [s]; "
                                                "subtracted from image stamps; -1 = the spec's latency.camera_s")
    act_outside_episodes: bool = Field(default=False,
                                       description="act without a running episode (nothing is recorded then)")
    proprio_sources: list[str] = Field(default=[], description="FIELD=SOURCE per spec proprio field "
                                       "(ee_position, ee_position_xy, ee_axis_angle, ee_quaternion, "
                                       "joints:A,B); empty = guessed from the field names")
    joint_states_topic: str = Field(default=topics.JOINT_STATES, min_length=1)
    ee_pose_topic: str = Field(default=topics.EE_POSE, min_length=1)
    image_qos: Literal["sensor_data", "reliable"] = Field(default="sensor_data",
                                                          description="QoS of the camera subscriptions")
    image_topics: list[str] = Field(default=[], description="CAMERA=TOPIC: take a camera's images from another "
                                    "driver's topic (e.g. agentview=/camera/camera/color/image_raw); others use "
                                    "CAMERA/image_raw")
    resize_images: bool = Field(default=True, description="fit other frame sizes to the spec (centre crop to its "
                                                          "aspect, then area resize: robot_rl/robot/image_fit.py); "
                                                          "false = reject them")
    buffer_path: str = Field(default="", description="rollout buffer to record episodes into (created if "
                                                     "missing); empty = record nothing")
    diagnostics_period_s: float = Field(default=1.0, gt=0.0, le=60.0)
    log_interval_s: float = Field(default=2.0, ge=0.0, le=600.0,
                                  description="at most one log line per reason per interval")

    @field_validator("camera_latency_s")
    @classmethod
    def _latency_or_spec(cls, v: float) -> float:
        if v != USE_SPEC and v < 0:
            raise ValueError(f"must be >= 0, or {USE_SPEC} for the spec's latency.camera_s")
        return v

    def camera_latency(self, spec: EmbodimentSpec) -> float:
        """The camera latency in force [s]: the override, or the spec's measured ``latency.camera_s``."""
        return spec.latency.camera_s if self.camera_latency_s == USE_SPEC else self.camera_latency_s

    @field_validator("proprio_sources")
    @classmethod
    def _sources_parse(cls, v: list[str]) -> list[str]:
        for entry in v:
            parse_source(entry)  # ValueError names the entry and the allowed sources
        return v

    @field_validator("image_topics")
    @classmethod
    def _image_topics_parse(cls, v: list[str]) -> list[str]:
        topics.parse_image_topics(v)  # ValueError names the entry and the syntax
        return v

    def image_topics_map(self) -> dict[str, str]:
        """``image_topics`` as camera -> topic (validated on load)."""
        return topics.parse_image_topics(self.image_topics)
