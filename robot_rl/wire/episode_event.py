"""Episode events: the JSON carried in std_msgs/String on ``/robot_rl/episode_event``.

One message holds one JSON object, validated by :class:`EpisodeEvent`::

    {"event": "start", "episode_id": "g3-1", "context_id": "pick_red/3", "group_id": "g3",
     "instruction": "pick up the red cube"}
    {"event": "success", "episode_id": "g3-1", "label_source": "operator", "operator": "ana"}
    {"event": "failure", "episode_id": "g3-1", "label_source": "sim", "timeout": true}
    {"event": "success", "episode_id": "g3-1", "label_source": "detector_confirmed", "detector_p": 0.97}
    {"event": "abort", "episode_id": "g3-1", "note": "cube fell off the table"}
    {"event": "estop", "episode_id": "g3-1"}

``start`` opens an episode (the sim robot resets to ``context_id``); ``success`` / ``failure``
close it with reward 1 / 0 and a ``label_source`` (``sim`` when the simulator judged it,
``operator`` when a person did, ``detector`` when the success detector did alone,
``detector_confirmed`` when the operator accepted the detector's proposal); ``detector_p`` carries the
detector's calibrated probability of success when one ran (required for the two detector sources;
absent = none ran, recorded as NaN). ``abort`` / ``estop`` close it without a usable reward. End
events name the ``episode_id`` of the start event they close, so a late or duplicated event for
an older episode can never close the current one. Unknown keys, bad values and non-JSON text are
rejected with a :class:`~robot_rl.errors.ConfigError` naming the field.

A start event carries everything the episode is recorded with (``context_id``, ``group_id``,
``instruction``): the policy node takes nothing from a separately latched topic, which could still
hold the previous context's instruction when the start arrives.

The policy node answers every start on ``/robot_rl/episode_ack`` (std_msgs/String, one
:class:`EpisodeAck` as JSON), so the panel knows whether the episode it shows is being recorded::

    {"episode_id": "g3-1", "status": "recording", "instruction": "pick up the red cube", "policy_version": 4}
    {"episode_id": "g3-2", "status": "acting", "reason": "no buffer_path: the episode is not recorded"}
    {"episode_id": "g3-3", "status": "refused", "reason": "no policy loaded (set checkpoint, ...)"}

``recording``: the policy acts and every step goes to the rollout buffer; its label will land there.
``acting``: the policy acts but records nowhere (no buffer configured); a label would be lost.
``refused``: the policy does not act and records nothing; ``reason`` says why.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig, validate_config
from robot_rl.env import Context
from robot_rl.errors import ConfigError

EventKind = Literal["start", "success", "failure", "abort", "estop"]
AckStatus = Literal["recording", "acting", "refused"]
END_EVENTS = ("success", "failure", "abort", "estop")


class EpisodeEvent(StrictConfig):
    """One episode event; see the module docstring for examples."""

    event: EventKind
    episode_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$",
                            description="pairs end events with their start event")
    context_id: str = Field(default="", description="'task/init_id'; required for start")
    group_id: str = Field(default="", max_length=128, description="K rollouts of one context share a group id")
    task: str = Field(default="", description="defaults to the task part of context_id")
    instruction: str = Field(default="", max_length=4096,
                             description="the episode's language instruction; a start without one is refused")
    label_source: Literal["sim", "expert", "operator", "detector", "detector_confirmed"] = Field(
        default="operator", description="who judged success/failure")
    detector_p: float | None = Field(default=None, ge=0.0, le=1.0,
                                     description="the success detector's probability of success when labelled")
    operator: str = Field(default="", max_length=128, description="who labelled it (operator panel)")
    timeout: bool = Field(default=False, description="failure because the episode limit was reached")
    stamp: float = Field(default=0.0, ge=0.0, description="when the event happened [s, ROS time]; 0 = unknown")
    note: str = Field(default="", max_length=1024)

    @model_validator(mode="after")
    def _check(self) -> EpisodeEvent:
        if self.event == "start" and not self.context_id:
            raise ValueError("a start event needs a context_id ('task/init_id')")
        if self.context_id:
            Context.parse(self.context_id)  # ValueError names the expected form
        if self.label_source in ("detector", "detector_confirmed") and self.detector_p is None:
            raise ValueError(f"label_source {self.label_source!r} needs detector_p (the detector's probability)")
        if self.detector_p is not None and self.event not in ("success", "failure"):
            raise ValueError(f"detector_p is only meaningful for success/failure events, not {self.event}")
        if self.timeout and self.event != "failure":
            raise ValueError(f"timeout is only meaningful for failure events, not {self.event}")
        return self

    @property
    def context(self) -> Context | None:
        return Context.parse(self.context_id) if self.context_id else None

    @property
    def task_name(self) -> str:
        """``task``, or the task part of ``context_id``."""
        return self.task or (self.context.task if self.context else "")

    def to_json(self) -> str:
        """Compact JSON with only the fields that differ from their defaults (plus ``event`` and ``episode_id``)."""
        data = self.model_dump(exclude_defaults=True)
        data.update(event=self.event, episode_id=self.episode_id)
        return json.dumps(data, sort_keys=True)


def parse_episode_event(text: str) -> EpisodeEvent:
    """Parse and validate one event; raise :class:`ConfigError` saying what is wrong."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        raise ConfigError(f"episode event: not JSON ({err}); got {text[:80]!r}") from None
    return validate_config(EpisodeEvent, data, "episode event")


class EpisodeAck(StrictConfig):
    """The policy node's answer to one start event; see the module docstring."""

    episode_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$",
                            description="the start event answered")
    status: AckStatus
    reason: str = Field(default="", max_length=4096, description="why it was refused / is not recorded")
    instruction: str = Field(default="", max_length=4096, description="the instruction the episode runs with")
    policy_version: int = Field(default=-1, ge=-1, description="the sampling policy's version; -1 = none")
    stamp: float = Field(default=0.0, ge=0.0, description="when the start was answered [s, ROS time]")

    @model_validator(mode="after")
    def _check(self) -> EpisodeAck:
        if self.status != "recording" and not self.reason:
            raise ValueError(f"a {self.status} acknowledgement needs a reason")
        return self

    @property
    def recording(self) -> bool:
        return self.status == "recording"

    def to_json(self) -> str:
        data = self.model_dump(exclude_defaults=True)
        data.update(episode_id=self.episode_id, status=self.status)
        return json.dumps(data, sort_keys=True)


def parse_episode_ack(text: str) -> EpisodeAck:
    """Parse and validate one acknowledgement; raise :class:`ConfigError` saying what is wrong."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        raise ConfigError(f"episode ack: not JSON ({err}); got {text[:80]!r}") from None
    return validate_config(EpisodeAck, data, "episode ack")
