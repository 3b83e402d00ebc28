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
    # Reality profiles (a fixed lab-like shift away from the simulator, e.g. sim/tabletop/reality.py) that this
    # suite's envs know, besides "none" (the simulator itself). Empty: the suite has no such shifts.
    reality_profiles: tuple[str, ...] = ()

    @classmethod
    def reality_kwargs(cls, profile: str, seed: int, options: dict[str, Any]) -> dict[str, Any]:
        """Suite options that make the envs the lab ``profile`` (drawn from ``seed``, refined by ``options``).

        Called only with a profile from :attr:`reality_profiles`; suites with profiles override this
        and raise :class:`ConfigError` naming a bad shift or value in ``options``.
        """
        raise ConfigError(f"suite '{getattr(cls, 'name', cls.__name__)}' has no reality profiles")

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
    return suite_factory(name)(**options)


REALITY_OPTION_KEYS = ("only", "without", "overrides")


def suite_factory(name: str) -> Any:
    """The class (or factory) registered as suite ``name``, without building a suite."""
    found = [ep for ep in entry_points(group=SUITE_ENTRY_POINTS) if ep.name == name]
    if not found:
        raise ConfigError(f"unknown suite '{name}'; available suites: {', '.join(available_suites()) or 'none installed'}")
    return found[0].load()


def suite_reality_profiles(name: str) -> tuple[str, ...]:
    """Every reality profile suite ``name`` accepts: ``none`` plus its :attr:`Suite.reality_profiles`."""
    profiles = tuple(getattr(suite_factory(name), "reality_profiles", ()))
    return profiles if "none" in profiles else ("none", *profiles)


def suite_kwargs(name: str, options: dict[str, Any] | None = None, reality: str = "none", reality_seed: int = 0,
                 reality_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The options to build suite ``name`` with: ``options`` plus the reality profile's (if not ``none``).

    ``reality_options`` holds ``only`` / ``without`` / ``overrides`` (which shifts of the profile, other
    magnitudes). Raises :class:`ConfigError` naming an unknown profile with the allowed ones, an unknown
    option key, or a suite option that sets the reality twice.
    """
    options = dict(options or {})
    reality_options = dict(reality_options or {})
    unknown = sorted(set(reality_options) - set(REALITY_OPTION_KEYS))
    if unknown:
        raise ConfigError(f"reality_options: unknown key(s) {unknown}; allowed: {', '.join(REALITY_OPTION_KEYS)}")
    if reality == "none" and not reality_options:
        return options  # the simulator itself: nothing to look up
    allowed = suite_reality_profiles(name)
    if reality not in allowed:
        raise ConfigError(f"reality: unknown profile {reality!r} for suite '{name}'; allowed: {', '.join(allowed)}")
    factory = suite_factory(name)
    if not hasattr(factory, "reality_kwargs") or not getattr(factory, "reality_profiles", ()):
        raise ConfigError(f"reality_options: suite '{name}' has no reality profiles to refine")
    extra = factory.reality_kwargs(reality, reality_seed, reality_options)
    clash = sorted(set(extra) & set(options))
    if clash:
        raise ConfigError(f"suite_options: {clash} set the reality twice; give it with the reality parameters only")
    return {**options, **extra}
