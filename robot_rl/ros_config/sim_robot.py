"""Parameters of ``sim_robot_node``: a suite env presented as the robot."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from robot_rl.config import StrictConfig
from robot_rl.env import REALITY_OPTION_KEYS, Context, suite_kwargs
from robot_rl.errors import ConfigError
from robot_rl.robot.proprio import parse_source
from robot_rl.wire import topics


class SimRobotConfig(StrictConfig):
    """Which suite, the rates it publishes at, which commands it obeys and which episodes it runs."""

    suite: str = Field(default="tabletop", description="suite registered under robot_rl.suites (tabletop, point_reach, ...)")
    suite_options: str = Field(default="{}", description="JSON object of suite options, e.g. {\"max_steps\": 40}")
    reality: str = Field(default="none", min_length=1,
                         description="reality profile: how the stand-in's world differs from the training simulator "
                                     "(tabletop: none | lab | hard; docs/reality.md); none = the simulator itself")
    reality_seed: int = Field(default=0, ge=0, description="which lab: draws the direction of every shift once")
    reality_options: str = Field(default="{}", description="JSON object refining the profile: only / without (lists of "
                                 "shift names), overrides ({shift: {field: value} or null})")
    camera_width: int = Field(default=0, ge=0, le=4096, description="publish frames this wide, like a real driver "
                              "(e.g. 640; the policy node crops/resizes to the spec); 0 = the spec's size")
    camera_height: int = Field(default=0, ge=0, le=4096, description="frame height (e.g. 480); 0 = the spec's size")
    publish_clock: bool = Field(default=False, description="publish sim time on /clock and step the sim on its own "
                                "schedule (run every node with use_sim_time); false = wall-clock time, as on hardware")
    clock_speed: float = Field(default=1.0, ge=0.0, le=1000.0, description="with publish_clock: sim seconds per wall "
                               "second to aim for (1 = real-time pace); 0 = as fast as the sim steps")
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
                                   description="wait this long before the first scheduled episode (DDS "
                                               "discovery) [wall s, also with publish_clock]")
    wait_for_heartbeat: str = Field(default=topics.POLICY_HEARTBEAT,
                                    description="start scheduled episodes only while this std_msgs/Header topic "
                                                "beats (heard within 1 s of wall time: the policy is up); "
                                                "empty = do not wait")
    episode_gap_s: float = Field(default=0.5, ge=0.0, le=60.0, description="pause between episodes [s, sim time with "
                                                                                       "publish_clock]")
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

    @field_validator("reality_options")
    @classmethod
    def _reality_options(cls, v: str) -> str:
        try:
            data = json.loads(v)
        except json.JSONDecodeError as err:
            raise ValueError(f"not JSON: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"must be a JSON object with keys among {', '.join(REALITY_OPTION_KEYS)}")
        unknown = sorted(set(data) - set(REALITY_OPTION_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; allowed: {', '.join(REALITY_OPTION_KEYS)}")
        return v

    @model_validator(mode="after")
    def _reality_known(self) -> SimRobotConfig:
        if (self.camera_width == 0) != (self.camera_height == 0):
            raise ValueError(f"camera_width / camera_height: give both or neither (got {self.camera_width} x "
                             f"{self.camera_height}); 0 x 0 = the spec's size")
        try:
            self.suite_kwargs()  # unknown profile / shift names fail on load, naming the allowed ones
        except ConfigError as err:
            raise ValueError(str(err)) from None
        return self

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

    @property
    def reality_option_values(self) -> dict[str, Any]:
        return json.loads(self.reality_options)

    def suite_kwargs(self) -> dict[str, Any]:
        """The options to build the suite with: ``suite_options`` plus the reality profile's."""
        return suite_kwargs(self.suite, self.options, self.reality, self.reality_seed, self.reality_option_values)
