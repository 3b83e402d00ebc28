"""The hardware LOOP schedule: what ``robot-rl hw-train`` wants collected, as the panel shows it.

``hw-train`` publishes one :class:`HwSchedule` as JSON (std_msgs/String, latched) on
``/robot_rl/hw_schedule`` whenever it changes. The operator panel shows it ("context c of C,
rollout k of K"), and its Start button opens the next rollout of the current group with a start
event carrying that group's ``context_id`` and ``group_id``. The panel sends requests back on
``/robot_rl/hw_request`` (:class:`HwRequest`, e.g. skip the current context). The rollout buffer,
not this message, is the source of truth: hw-train recomputes the schedule from the buffer's
episodes table after every change, so any process can restart mid-cycle.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig, validate_config
from robot_rl.env import Context
from robot_rl.errors import ConfigError

GroupState = Literal["pending", "collecting", "complete", "rejected", "skipped"]
ScheduleStatus = Literal["idle", "collecting", "training", "deploying", "done"]


class HwGroup(StrictConfig):
    """K rollouts of one context under one policy version."""

    group_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$")
    context_id: str = Field(description="'task/init_id'")
    instruction: str = Field(default="", max_length=4096)
    rollouts_done: int = Field(default=0, ge=0, description="usable (labelled) rollouts in the buffer")
    successes: int = Field(default=0, ge=0)
    state: GroupState = "pending"

    @model_validator(mode="after")
    def _check(self) -> HwGroup:
        Context.parse(self.context_id)
        if self.successes > self.rollouts_done:
            raise ValueError(f"successes ({self.successes}) exceed rollouts_done ({self.rollouts_done})")
        return self


class HwSchedule(StrictConfig):
    """One hardware LOOP cycle: the groups to collect with the current policy version."""

    cycle: int = Field(default=0, ge=0)
    policy_version: int = Field(default=0, ge=-1)
    group_size: int = Field(default=8, ge=2, le=1024, description="K rollouts per context")
    groups_needed: int = Field(default=1, ge=1, description="B/K groups with signal for one update")
    status: ScheduleStatus = "idle"
    message: str = Field(default="", max_length=4096)
    groups: list[HwGroup] = Field(default=[])
    current: int = Field(default=-1, ge=-1, description="index into groups of the group to collect now; -1 = none")

    @model_validator(mode="after")
    def _check(self) -> HwSchedule:
        if self.current >= len(self.groups):
            raise ValueError(f"current={self.current} but there are {len(self.groups)} groups")
        return self

    @property
    def current_group(self) -> HwGroup | None:
        return self.groups[self.current] if self.current >= 0 else None

    def progress_text(self) -> str:
        """'context c of C, rollout k of K' for the current group (k counts the rollout about to run)."""
        g = self.current_group
        if g is None:
            return f"no context to collect ({self.status})"
        return (f"context {self.current + 1} of {len(self.groups)}, "
                f"rollout {min(g.rollouts_done + 1, self.group_size)} of {self.group_size}")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), sort_keys=True)


class HwRequest(StrictConfig):
    """A request from the panel to hw-train."""

    request: Literal["skip_context"]
    group_id: str = Field(min_length=1, max_length=128)
    operator: str = Field(default="", max_length=128)


def parse_hw_schedule(text: str) -> HwSchedule:
    """Parse and validate a schedule message; :class:`ConfigError` names what is wrong."""
    return validate_config(HwSchedule, _json(text, "hw schedule"), "hw schedule")


def parse_hw_request(text: str) -> HwRequest:
    """Parse and validate a panel request; :class:`ConfigError` names what is wrong."""
    return validate_config(HwRequest, _json(text, "hw request"), "hw request")


def _json(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        raise ConfigError(f"{what}: not JSON ({err}); got {str(text)[:80]!r}") from None
