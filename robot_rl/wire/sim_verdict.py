"""The stand-in's ground truth: the JSON carried in std_msgs/String on ``/sim_robot/verdict``.

When an episode of the robot stand-in (``sim_robot_node``) ends in the simulator (the task is done,
or the episode limit is reached), the stand-in publishes what the simulator says happened, one JSON
object per episode::

    {"episode_id": "g3-1", "verdict": "success", "context_id": "pick_red/3", "group_id": "g3",
     "steps": 17, "stamp": 41.3, "reported": false}
    {"episode_id": "g3-2", "verdict": "failure", "context_id": "pick_red/3", "group_id": "g3",
     "steps": 60, "timeout": true, "stamp": 48.0, "reported": false}

It is published whether or not the stand-in reports success itself (``report_success``):
``reported`` says whether it also ended the episode with a ``success`` / ``failure`` episode event.
With ``report_success: false`` (an operator labels, as on the robot) a scripted operator labels from
this topic; a real robot has no such topic, and nothing else in the graph reads it. ``stamp`` is the
stand-in's clock (sim seconds when it publishes ``/clock``).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig, validate_config
from robot_rl.env import Context
from robot_rl.errors import ConfigError

Verdict = Literal["success", "failure"]


class SimVerdict(StrictConfig):
    """One episode's outcome as the simulator judged it; see the module docstring."""

    episode_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$",
                            description="the episode's id (the start event's)")
    verdict: Verdict = Field(description="success: the task's predicate held; failure: the episode limit came first")
    context_id: str = Field(description="'task/init_id' the episode ran on")
    group_id: str = Field(default="", max_length=128)
    steps: int = Field(ge=0, description="control steps the episode ran")
    timeout: bool = Field(default=False, description="failure because the episode limit was reached")
    stamp: float = Field(default=0.0, ge=0.0, description="when the sim judged it [s, the stand-in's clock]")
    reported: bool = Field(default=False, description="the stand-in also published it as an episode event")

    @model_validator(mode="after")
    def _check(self) -> SimVerdict:
        Context.parse(self.context_id)  # ValueError names the expected form
        if self.timeout and self.verdict != "failure":
            raise ValueError("timeout is only meaningful for a failure verdict")
        return self

    @property
    def success(self) -> bool:
        return self.verdict == "success"

    @property
    def context(self) -> Context:
        return Context.parse(self.context_id)

    def to_json(self) -> str:
        """Compact JSON, keys sorted."""
        return json.dumps(self.model_dump(), sort_keys=True)


def parse_sim_verdict(text: str) -> SimVerdict:
    """Parse and validate one verdict; raise :class:`ConfigError` naming what is wrong."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        raise ConfigError(f"sim verdict: not JSON ({err}); got {str(text)[:80]!r}") from None
    return validate_config(SimVerdict, data, "sim verdict")
