"""Parameters of ``sim_robot_node``: a suite env presented as the robot."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from robot_rl.config import StrictConfig
from robot_rl.env import Context
from robot_rl.robot.proprio import parse_source
from robot_rl.wire import topics


class SimRobotConfig(StrictConfig):
    """Which suite, the rates it publishes at, which commands it obeys and which episodes it runs."""

    suite: str = Field(default="tabletop", description="suite registered under robot_rl.suites (tabletop, point_reach, ...)")
    suite_options: str = Field(default="{}", description="JSON object of suite options, e.g. {\"max_steps\": 40}")
    proprio_sources: list[str] = Field(default=[], description="how the env's proprio is published "
                                       "(FIELD=SOURCE, as policy_node); empty = guessed from the field names")
    camera_rate_hz: float = Field(default=30.0, gt=0.0, le=240.0, description="image publish rate [Hz]")
    state_rate_hz: float = Field(default=50.0, gt=0.0, le=1000.0, description="joint state / pose rate [Hz]")
    image_qos: Literal["sensor_data", "reliable"] = Field(default="sensor_data")
    command_type: Literal["pose", "twist"] = Field(default="pose", description="which executor command to obey")
    command_frame: str = Field(default="base_link", min_length=1, description="frame of poses and commands")
    pose_command_topic: str = Field(default=topics.COMMAND_POSE, min_length=1)
    twist_command_topic: str = Field(default=topics.COMMAND_TWIST, min_length=1)
    gripper_command_topic: str = Field(default=topics.COMMAND_GRIPPER, min_length=1)
    ee_pose_topic: str = Field(default=topics.EE_POSE, min_length=1)
    joint_states_topic: str = Field(default=topics.JOINT_STATES, min_length=1)
    twist_timeout_s: float = Field(default=0.2, gt=0.0, le=10.0, description="a twist older than this is ignored")
    command_guard_s: float = Field(default=0.05, ge=0.0, le=5.0,
                                   description="ignore commands stamped earlier than this after a reset")
    auto_start: bool = Field(default=True, description="run the episode schedule by itself (publishing start "
                                                       "events); false = wait for start events or ~/reset")
    contexts: list[str] = Field(default=[], description="context ids 'task/init_id' to run in order; "
                                                        "empty = the suite's train contexts")
    report_success: bool = Field(default=True, description="publish success / failure (timeout) events judged by "
                                                           "the sim; false = an operator labels (hardware loop "
                                                           "stand-in): at the episode limit the robot holds still "
                                                           "until a label (or abort) ends the episode")
    group_size: int = Field(default=1, ge=1, le=1024, description="K: episodes per context in a row, one group id")
    num_episodes: int = Field(default=0, ge=0, description="stop the schedule after this many; 0 = never")
    max_steps: int = Field(default=0, ge=0, description="episode limit in control steps that carried out a new "
                           "command (a tick holding still while the policy thinks does not count; twice the limit "
                           "in ticks ends an episode regardless); 0 = the task's")
    startup_delay_s: float = Field(default=1.0, ge=0.0, le=600.0,
                                   description="wait this long before the first scheduled episode (DDS discovery)")
    wait_for_heartbeat: str = Field(default=topics.POLICY_HEARTBEAT,
                                    description="start scheduled episodes only while this std_msgs/Header topic "
                                                "beats (the policy is up); empty = do not wait")
    episode_gap_s: float = Field(default=0.5, ge=0.0, le=60.0, description="pause between episodes [s]")
    diagnostics_period_s: float = Field(default=1.0, gt=0.0, le=60.0)

    @field_validator("suite_options")
    @classmethod
    def _json_object(cls, v: str) -> str:
        try:
            data = json.loads(v)
        except json.JSONDecodeError as err:
            raise ValueError(f"not JSON: {err}") from None
        if not isinstance(data, dict):
            raise ValueError("must be a JSON object")
        return v

    @field_validator("proprio_sources")
    @classmethod
    def _sources_parse(cls, v: list[str]) -> list[str]:
        for entry in v:
            parse_source(entry)
        return v

    @field_validator("contexts")
    @classmethod
    def _contexts_parse(cls, v: list[str]) -> list[str]:
        for c in v:
            Context.parse(c)
        return v

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.suite_options)
