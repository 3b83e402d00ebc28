"""`TabletopSuite`: the built-in tasks, their contexts and the env factory (entry point ``tabletop``)."""

from __future__ import annotations

from typing import Any

from robot_rl.config import validate_config
from robot_rl.env import Context, Split, Suite, TaskInfo
from robot_rl.errors import ConfigError
from robot_rl.spec import EmbodimentSpec, load_spec
from sim.tabletop.config import TabletopConfig
from sim.tabletop.reality import PROFILES, RealityConfig
from sim.tabletop.tasks import NUM_EVAL, NUM_TRAIN, TASKS, TASKS_BY_NAME

_SPLITS = ("train", "eval", "all")


class TabletopSuite(Suite):
    """Eight language-conditioned tabletop tasks, 50 train + 50 held-out eval contexts each.

    ``options`` given here (e.g. ``make_suite("tabletop", randomization={"enabled": True})``) are
    validated as a :class:`TabletopConfig` and become the defaults of :meth:`make_env`.
    """

    name = "tabletop"
    reality_profiles = tuple(PROFILES)

    @classmethod
    def reality_kwargs(cls, profile: str, seed: int, options: dict[str, Any]) -> dict[str, Any]:
        """``{"reality": {...}}``: the :class:`RealityConfig` of ``profile``; ConfigError names a bad shift."""
        data = {"profile": profile, "seed": seed, **options}
        validate_config(RealityConfig, data, "reality")
        return {"reality": data}

    def __init__(self, spec: EmbodimentSpec | str | None = None, **options: Any) -> None:
        self.spec = load_spec(spec or "tabletop") if not isinstance(spec, EmbodimentSpec) else spec
        self._options = dict(options)
        self._config = validate_config(TabletopConfig, self._options, "tabletop options")  # fail early on bad options

    def tasks(self) -> list[TaskInfo]:
        return [TaskInfo(t.name, t.instruction, self._config.episode_limit(t.max_steps), NUM_TRAIN, NUM_EVAL)
                for t in TASKS]

    def contexts(self, task: str | None = None, split: Split = "train") -> list[Context]:
        if split not in _SPLITS:
            raise ConfigError(f"split: got {split!r}; allowed: {', '.join(_SPLITS)}")
        names = [self.task(task).task] if task is not None else [t.name for t in TASKS]
        ids = {"train": range(NUM_TRAIN), "eval": range(NUM_TRAIN, NUM_TRAIN + NUM_EVAL),
               "all": range(NUM_TRAIN + NUM_EVAL)}[split]
        return [Context(name, i) for name in names for i in ids]

    def make_env(self, **options: Any):
        """Build a :class:`~sim.tabletop.env.TabletopEnv`; ``options`` override the suite's (TabletopConfig fields)."""
        from sim.tabletop.env import TabletopEnv  # imports mujoco: only when an env is wanted

        config = validate_config(TabletopConfig, {**self._options, **options}, "tabletop env options")
        return TabletopEnv(self.spec, config)

    def expert(self, task: str, noise: float = 0.0, seed: int = 0):
        """A scripted expert for ``task``: ``expert.reset(env)`` after each ``env.reset``, then ``expert.act(obs)``."""
        from sim.tabletop.expert import TabletopExpert

        self.task(task)  # ConfigError naming the tasks if unknown
        return TabletopExpert(TASKS_BY_NAME[task], noise=noise, seed=seed)
