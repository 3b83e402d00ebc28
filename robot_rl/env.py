"""The environment contract shared by simulators and the ROS sim-robot.

An :class:`Env` resets to a :class:`Context` (task id + initial-state id), steps one action in
spec units and reports binary success. A :class:`Suite` owns a set of tasks, their contexts and
the embodiment spec, and builds envs. Suites live outside the core (``sim/``) and are found by
name through the ``robot_rl.suites`` entry-point group, so the core never imports a simulator.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.spec import EmbodimentSpec

Split = Literal["train", "eval", "all"]


@dataclass(frozen=True, order=True)
class Context:
    """A reproducible starting point: the same context always gives the same initial scene."""

    task: str
    init_id: int

    @property
    def id(self) -> str:
        """Stable string id, ``"<task>/<init_id>"``, used as the buffer's ``context_id``."""
        return f"{self.task}/{self.init_id}"

    @classmethod
    def parse(cls, context_id: str) -> Context:
        task, sep, init = context_id.rpartition("/")
        if not sep or not init.lstrip("-").isdigit():
            raise ValueError(f"context id must look like 'task/123', got {context_id!r}")
        return cls(task, int(init))


@dataclass
class Observation:
    """What a policy sees at one decision point.

    images: {camera: uint8 (H, W, 3)}; proprio: float32 (D,); timestamp: capture time [s].
    """

    images: dict[str, np.ndarray]
    proprio: np.ndarray
    instruction: str
    timestamp: float = 0.0


@dataclass
class StepResult:
    """Outcome of one env step. ``done`` is true on success or when the episode limit is hit."""

    obs: Observation
    success: bool
    done: bool
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskInfo:
    """A task of a suite: its id, the instruction given to the policy and its episode limit (env steps)."""

    task: str
    instruction: str
    max_steps: int
    num_train_contexts: int
    num_eval_contexts: int


class Env(abc.ABC):
    """One simulator instance that can be reset to any context of its suite without being rebuilt."""

    spec: EmbodimentSpec

    @abc.abstractmethod
    def reset(self, context: Context) -> Observation:
        """Put the scene in the context's initial state and return the first observation."""

    @abc.abstractmethod
    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        """Apply one action, float32 (A,) in spec units (clipped to the spec's limits).

        ``render=False`` lets an env skip its cameras when nobody will look at the observation
        (the actions of a chunk between two policy decisions): the result's ``obs.images`` may
        then be empty. Envs that cannot skip rendering ignore it.
        """

    @property
    @abc.abstractmethod
    def max_steps(self) -> int:
        """Episode limit, in env steps, of the task the env was last reset to."""

    def set_randomization(self, enabled: bool) -> None:  # noqa: B027 - optional hook
        """Whether the next resets apply the env's configured domain randomization.

        Envs start with it on (they behave as configured). Evaluation turns it off to run the
        nominal scene unless asked otherwise; ``True`` cannot randomize an env whose
        config has randomization off. Envs without domain randomization ignore it.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release simulator resources."""


class Suite(abc.ABC):
    """A named set of tasks with fixed initial states, one embodiment spec and an env factory."""

    name: str
    spec: EmbodimentSpec

    @abc.abstractmethod
    def tasks(self) -> list[TaskInfo]:
        """Every task of the suite, in a stable order."""

    @abc.abstractmethod
    def contexts(self, task: str | None = None, split: Split = "train") -> list[Context]:
        """Contexts of one task (or all tasks); ``eval`` contexts are held out from ``train``."""

    @abc.abstractmethod
    def make_env(self, **options: Any) -> Env:
        """Build one env of this suite (expensive; reuse it across contexts)."""

    def task(self, task: str) -> TaskInfo:
        """The task called ``task``; raises :class:`ConfigError` listing the suite's tasks."""
        for info in self.tasks():
            if info.task == task:
                return info
        raise ConfigError(f"suite '{self.name}' has no task '{task}'; tasks: {', '.join(t.task for t in self.tasks())}")


SUITE_ENTRY_POINTS = "robot_rl.suites"


def available_suites() -> list[str]:
    """Names of every suite registered under the ``robot_rl.suites`` entry-point group."""
    return sorted(ep.name for ep in entry_points(group=SUITE_ENTRY_POINTS))


def make_suite(name: str, **options: Any) -> Suite:
    """Build the suite registered as ``name`` (e.g. ``tabletop``, ``libero_spatial``)."""
    found = [ep for ep in entry_points(group=SUITE_ENTRY_POINTS) if ep.name == name]
    if not found:
        raise ConfigError(f"unknown suite '{name}'; available suites: {', '.join(available_suites()) or 'none installed'}")
    factory = found[0].load()
    return factory(**options)
