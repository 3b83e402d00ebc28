"""Parameters of ``success_label_node``: the operator panel (web page) that labels episodes.

See docs/panel.md for the page, the HTTP/WebSocket API and the label state machine
(:mod:`robot_rl.panel.machine`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from robot_rl.config import StrictConfig
from robot_rl.env import Context
from robot_rl.wire import topics

_OPERATOR = r"^[^\x00-\x1f\x7f]*$"  # printable: ids end up in logs and in the buffer's episode table


class LabelNodeConfig(StrictConfig):
    """The label node; everything but the server address, token and camera set may change at runtime."""

    host: str = Field(default="127.0.0.1", min_length=1,
                      description="address the panel listens on; anything but loopback requires a token")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port of the panel; 0 = any free port (logged)")
    token: str = Field(default="", max_length=256, pattern=r"^[A-Za-z0-9_.~-]*$",
                       description="access token (?token=... or 'Authorization: Bearer ...'); empty on a "
                                   "non-loopback host = a random one is generated and logged at start")
    spec: str = Field(default="tabletop", description="embodiment spec (built-in name or YAML path): its cameras")
    cameras: list[str] = Field(default=[], description="camera names to show; empty = the spec's cameras")
    image_qos: Literal["sensor_data", "reliable"] = Field(default="sensor_data",
                                                          description="QoS of the camera subscriptions")
    image_topics: list[str] = Field(default=[], description="CAMERA=TOPIC: take a camera's images from another "
                                    "driver's topic (e.g. agentview=/camera/camera/color/image_raw); others use "
                                    "CAMERA/image_raw")
    jpeg_rate_hz: float = Field(default=5.0, gt=0.0, le=30.0, description="camera views refresh rate [Hz]")
    jpeg_quality: int = Field(default=70, ge=10, le=100)
    jpeg_max_width: int = Field(default=640, ge=0, le=4096, description="downscale wider images; 0 = full size")
    reference_camera: str = Field(default="", description="camera of the per-group reference picture; "
                                                          "empty = the first camera")
    reference_delay_s: float = Field(default=0.3, ge=0.0, le=10.0,
                                     description="the reference picture is the first frame captured this long "
                                                 "after the group's first start (a sim robot resets on start)")
    time_limit_s: float = Field(default=60.0, ge=0.0, le=3600.0,
                                description="a panel-started episode running this long fails with timeout=true; "
                                            "0 = no limit")
    undo_window_s: float = Field(default=3.0, ge=0.0, le=60.0,
                                 description="a success/failure/abort label is held this long (U undoes it) "
                                             "before its end event is published; 0 = publish at once, no undo")
    operator: str = Field(default="operator", min_length=1, max_length=128, pattern=_OPERATOR,
                          description="operator id used when a command names none")
    contexts: list[str] = Field(default=[], description="without a hw-train schedule: contexts 'task/init_id' "
                                                        "Start cycles through (group ids made up by the panel)")
    instructions: list[str] = Field(default=[], description="without a schedule: 'task=instruction' for every task "
                                                            "of contexts; the start event carries it (the policy "
                                                            "node takes the instruction from the start only)")
    ack_timeout_s: float = Field(default=3.0, gt=0.0, le=60.0,
                                 description="how long a start waits for policy_node's acknowledgement before the "
                                             "page says it has none (a later one still counts); no label is "
                                             "accepted for an episode policy_node has not confirmed recording")
    start_resend_s: float = Field(default=0.5, gt=0.0, le=10.0,
                                  description="an unanswered start is published again this often until policy_node "
                                              "answers: a start published before DDS matched a node is lost; every "
                                              "node ignores a repeated start of the episode it runs")
    group_size: int = Field(default=1, ge=1, le=1024,
                            description="without a schedule: usable rollouts per context before the next one")
    detector: str = Field(default="", description="success detector directory (`robot-rl detector train --out`): "
                          "the page shows its live proposal for the running episode and A accepts it; empty = none")
    detector_rate_hz: float = Field(default=2.0, gt=0.0, le=30.0,
                                    description="at most this many detector verdicts per second (own thread)")
    auto_label: bool = Field(default=False,
                             description="automatic mode (needs detector): a confident success proposal labels the "
                                         "episode itself (source detector, through the undo window); unsure "
                                         "ones and failures wait for the operator or the time limit")
    auto_confirm_verdicts: int = Field(default=2, ge=1, le=100,
                                       description="automatic mode: consecutive confident success verdicts needed "
                                                   "(one noisy frame must not end an episode)")
    spot_check_share: float = Field(default=0.1, ge=0.0, le=1.0,
                                    description="automatic mode: share of episodes whose confident proposal is still "
                                                "sent to the operator (Y/N/D), to count disagreements")
    heartbeat_rate_hz: float = Field(default=10.0, ge=5.0, le=100.0,
                                     description="panel heartbeat rate (the executor may watch it)")
    heartbeat_requires_page: bool = Field(default=False,
                                          description="beat only while at least one panel page is connected "
                                                      "(closing the page then stops a robot that watches it)")

    @field_validator("contexts")
    @classmethod
    def _contexts_parse(cls, v: list[str]) -> list[str]:
        for c in v:
            Context.parse(c)  # ValueError names the expected form
        return v

    @field_validator("instructions")
    @classmethod
    def _instructions_parse(cls, v: list[str]) -> list[str]:
        tasks = [parse_instruction(entry)[0] for entry in v]
        repeated = sorted({t for t in tasks if tasks.count(t) > 1})
        if repeated:
            raise ValueError(f"task(s) {', '.join(repeated)} given more than one instruction")
        return v

    @model_validator(mode="after")
    def _every_context_has_an_instruction(self) -> LabelNodeConfig:
        missing = sorted({Context.parse(c).task for c in self.contexts} - set(self.instruction_map))
        if missing:
            raise ValueError(f"instructions: no instruction for task(s) {', '.join(missing)} of contexts; add "
                             f"entries like '{missing[0]}=pick up the ...' (a start must carry its instruction)")
        return self

    @model_validator(mode="after")
    def _auto_needs_a_detector(self) -> LabelNodeConfig:
        if self.auto_label and not self.detector:
            raise ValueError("auto_label: true needs a detector (parameter detector: a directory written by "
                             "`robot-rl detector train`)")
        return self

    @property
    def instruction_map(self) -> dict[str, str]:
        """task -> instruction."""
        return dict(parse_instruction(entry) for entry in self.instructions)

    @field_validator("image_topics")
    @classmethod
    def _image_topics_parse(cls, v: list[str]) -> list[str]:
        topics.parse_image_topics(v)  # ValueError names the entry and the syntax
        return v

    @field_validator("cameras")
    @classmethod
    def _camera_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name or not name.replace("_", "").isalnum():
                raise ValueError(f"camera name {name!r}: letters, digits and '_' only (it is part of a URL)")
        if len(set(v)) != len(v):
            raise ValueError(f"camera names repeat: {v}")
        return v


def parse_instruction(entry: str) -> tuple[str, str]:
    """'task=instruction' -> (task, instruction); ValueError naming the expected form."""
    task, sep, text = entry.partition("=")
    task, text = task.strip(), text.strip()
    if not sep or not task or not text:
        raise ValueError(f"instructions: {entry!r} is not 'task=instruction' (e.g. 'pick_red=pick up the red cube')")
    return task, text
