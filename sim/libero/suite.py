"""LIBERO suites as robot_rl :class:`~robot_rl.env.Suite` objects.

Contexts are ``(task, official init-state index)``: every LIBERO task ships 50 initial states,
and the standard protocol (LIBERO, OpenVLA, OpenVLA-OFT, RIPT-VLA) evaluates every task on
all 50. RIPT-VLA also runs its RL rollouts from LIBERO's initial states, so by default the
``train`` and ``eval`` splits are the same 50 states (``eval_holdout=0``): results are then
comparable with published numbers. ``eval_holdout=N`` keeps the last N states of every task
out of ``train`` (``eval`` stays all 50) for a check on states the policy never trained from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.config import load_yaml, validate_config
from robot_rl.env import Context, Split, Suite, TaskInfo
from robot_rl.errors import ConfigError
from robot_rl.spec import EmbodimentSpec
from sim.libero import catalog
from sim.libero.config import LiberoOptions
from sim.libero.env import LiberoEnv

# LIBERO's OSC_POSE controller maps inputs in [-1, 1] to +-0.05 m and +-0.5 rad (robosuite's
# default output_max); the spec's action limits must be exactly these for the scaling to hold.
_OSC_HIGH = np.array([0.05, 0.05, 0.05, 0.5, 0.5, 0.5, 1.0], dtype=np.float32)


def load_libero_spec(options: LiberoOptions) -> EmbodimentSpec:
    """The spec named by ``options.spec``, with ``image_size`` applied, checked against LIBERO."""
    data = load_yaml(options.spec)
    if options.image_size is not None and isinstance(data, dict):
        for cam in data.get("cameras") or []:
            if isinstance(cam, dict):
                cam["height"] = cam["width"] = options.image_size
    spec = EmbodimentSpec.from_dict(data, str(options.spec))
    unknown = [c for c in spec.camera_names if c not in catalog.CAMERAS]
    if unknown:
        raise ConfigError(f"{options.spec}: cameras: got {unknown}; LIBERO cameras are {sorted(catalog.CAMERAS)}")
    if spec.action_dim != 7 or not np.allclose(spec.action_high, _OSC_HIGH) or not np.allclose(spec.action_low, -_OSC_HIGH):
        raise ConfigError(
            f"{options.spec}: action: LIBERO's OSC_POSE needs 7 dims with limits +-{_OSC_HIGH.tolist()}; "
            f"got low {spec.action_low.tolist()}, high {spec.action_high.tolist()}"
        )
    sizes = [f.size for f in spec.proprio]
    if sizes != [3, 3, 1]:
        raise ConfigError(f"{options.spec}: proprio: LIBERO provides eef_pos (3), eef_axis_angle (3), gripper (1); got sizes {sizes}")
    return spec


class LiberoSuite(Suite):
    """One LIBERO suite (e.g. ``libero_spatial`` or the PRO variant ``libero_goal_swap``)."""

    def __init__(self, name: str, **options: Any) -> None:
        self.options = validate_config(LiberoOptions, options, f"suite '{name}' options")
        catalog.base_suite(name)  # raises for suites with no known episode limit
        self.name = name
        self.spec = load_libero_spec(self.options)
        self._tasks = catalog.suite_tasks(name)

    def _max_steps(self) -> int:
        return self.options.max_steps or catalog.MAX_STEPS[catalog.base_suite(self.name)]

    def _num_states(self, task: catalog.LiberoTask) -> int:
        return len(catalog.init_states(self.name, task.index))

    def tasks(self) -> list[TaskInfo]:
        out = []
        for t in self._tasks:
            n = self._num_states(t)
            out.append(TaskInfo(t.name, t.instruction, self._max_steps(), n - min(self.options.eval_holdout, n - 1), n))
        return out

    def contexts(self, task: str | None = None, split: Split = "train") -> list[Context]:
        if split not in ("train", "eval", "all"):
            raise ConfigError(f"split: got {split!r}; allowed: train, eval, all")
        chosen = self._tasks if task is None else [t for t in self._tasks if t.name == self.task(task).task]
        out = []
        for t in chosen:
            n = self._num_states(t)
            stop = n - min(self.options.eval_holdout, n - 1) if split == "train" else n
            out.extend(Context(t.name, i) for i in range(stop))
        return out

    def make_env(self, **options: Any) -> LiberoEnv:
        """A :class:`LiberoEnv` for this suite; ``options`` override the suite's (e.g. ``render=False``)."""
        merged = validate_config(LiberoOptions, {**self.options.model_dump(exclude_unset=True), **options}, f"suite '{self.name}' env options")
        spec = load_libero_spec(merged)
        return LiberoEnv(self.name, spec, merged)
