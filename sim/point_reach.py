"""`point_reach`: a tiny numpy-only suite for fast end-to-end tests and examples.

A point moves in the unit square; two coloured targets sit at per-context positions and the
instruction names the one to reach ("go to the red target" / "go to the blue target"), so a
policy must read the language. It renders a small top-down RGB image with numpy, needs no
simulator library, and steps at tens of thousands of steps per second, which makes it the suite
for testing rollout workers and trainers in seconds. It is not a substitute for the MuJoCo
tabletop suite when measuring real behaviour.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from robot_rl.env import Context, Env, Observation, StepResult, Suite, Split, TaskInfo
from robot_rl.spec import EmbodimentSpec

SPEC = EmbodimentSpec.from_dict(
    {
        "name": "point_reach",
        "control_rate_hz": 10,
        "chunk_length": 4,
        "cameras": [{"name": "top", "height": 32, "width": 32}],
        "proprio": [{"name": "pos", "size": 2, "unit": "m"}],
        "action": [
            {"name": "dx", "unit": "m", "low": -0.1, "high": 0.1},
            {"name": "dy", "unit": "m", "low": -0.1, "high": 0.1},
        ],
    },
    "point_reach spec",
)

COLOURS = {"red": (230, 40, 40), "blue": (40, 80, 230)}
TASKS = {f"reach_{c}": f"go to the {c} target" for c in COLOURS}
NUM_CONTEXTS = {"train": 50, "eval": 50}
SUCCESS_RADIUS = 0.08


def _scene(context: Context) -> dict[str, np.ndarray]:
    """The initial scene of a context, a pure function of (task, init_id): targets and start point."""
    split_offset = 0 if context.init_id < NUM_CONTEXTS["train"] else 10_000
    rng = np.random.default_rng([sorted(TASKS).index(context.task), context.init_id, split_offset])
    red, blue = rng.uniform(0.15, 0.85, size=(2, 2))
    while np.linalg.norm(red - blue) < 0.3:  # keep targets apart so reaching the wrong one fails
        blue = rng.uniform(0.15, 0.85, size=2)
    return {"red": red, "blue": blue, "start": rng.uniform(0.1, 0.9, size=2)}


class PointReachEnv(Env):
    """One point-reach env; resets to any context of the suite."""

    spec = SPEC

    def __init__(self, max_steps: int = 30, success_radius: float = SUCCESS_RADIUS, hang_once_flag: str | None = None) -> None:
        self._max_steps = max_steps
        self._success_radius = success_radius
        # Test hook for hang detection: the first reset that finds no file at this path creates it
        # and then sleeps forever, like a simulator stuck in a step.
        self._hang_once_flag = hang_once_flag
        self._pos = np.zeros(2)
        self._scene: dict[str, np.ndarray] = {}
        self._task = ""
        self._t = 0

    @property
    def max_steps(self) -> int:
        return self._max_steps

    def reset(self, context: Context) -> Observation:
        if context.task not in TASKS:
            raise KeyError(f"point_reach has no task '{context.task}'; tasks: {sorted(TASKS)}")
        if self._hang_once_flag:
            try:  # O_EXCL: exactly one worker of a pool wins the race and hangs
                os.close(os.open(self._hang_once_flag, os.O_CREAT | os.O_EXCL))
                time.sleep(3600)
            except FileExistsError:
                pass
        self._scene = _scene(context)
        self._task = context.task
        self._pos = self._scene["start"].copy()
        self._t = 0
        return self._observe()

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:  # numpy drawing is cheap: always renders
        action = np.clip(np.asarray(action, dtype=np.float64), SPEC.action_low, SPEC.action_high)
        self._pos = np.clip(self._pos + action, 0.0, 1.0)
        self._t += 1
        goal = self._scene[self._task.removeprefix("reach_")]
        success = bool(np.linalg.norm(self._pos - goal) < self._success_radius)
        return StepResult(self._observe(), success, success or self._t >= self._max_steps)

    def _observe(self) -> Observation:
        cam = SPEC.cameras[0]
        img = np.full(cam.shape, 245, dtype=np.uint8)
        ys, xs = np.mgrid[0 : cam.height, 0 : cam.width] / cam.width

        def disc(center: np.ndarray, radius: float, rgb: tuple[int, int, int]) -> None:
            img[(xs - center[0]) ** 2 + (ys - center[1]) ** 2 < radius**2] = rgb

        for colour, rgb in COLOURS.items():
            disc(self._scene[colour], 0.07, rgb)
        disc(self._pos, 0.04, (20, 20, 20))
        return Observation({cam.name: img}, self._pos.astype(np.float32), TASKS[self._task], time.time())

    def expert_action(self) -> np.ndarray:
        """Privileged straight-line controller towards the instructed target (for demos and tests)."""
        goal = self._scene[self._task.removeprefix("reach_")]
        return np.clip(goal - self._pos, SPEC.action_low, SPEC.action_high).astype(np.float32)


class PointReachExpert:
    """Scripted expert with the tabletop expert's interface: ``reset(env)`` after ``env.reset``, then ``act(obs)``."""

    def __init__(self, noise: float = 0.0, seed: int = 0) -> None:
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self._env: PointReachEnv | None = None

    def reset(self, env: PointReachEnv) -> None:
        self._env = env

    def act(self, obs: object = None) -> np.ndarray:
        assert self._env is not None, "call expert.reset(env) after env.reset(context)"
        a = self._env.expert_action() + self.rng.normal(0.0, self.noise, size=2) * SPEC.action_high
        return np.clip(a, SPEC.action_low, SPEC.action_high).astype(np.float32)


class PointReachSuite(Suite):
    """Two tasks (reach the red / blue target) with 50 train and 50 held-out eval contexts each."""

    name = "point_reach"
    spec = SPEC

    def __init__(self, max_steps: int = 30, success_radius: float = SUCCESS_RADIUS) -> None:
        self._max_steps = max_steps
        self._success_radius = success_radius

    def tasks(self) -> list[TaskInfo]:
        return [TaskInfo(t, instr, self._max_steps, NUM_CONTEXTS["train"], NUM_CONTEXTS["eval"]) for t, instr in sorted(TASKS.items())]

    def contexts(self, task: str | None = None, split: Split = "train") -> list[Context]:
        tasks = [self.task(task).task] if task else sorted(TASKS)
        n_train, n_eval = NUM_CONTEXTS["train"], NUM_CONTEXTS["eval"]
        ids = {"train": range(n_train), "eval": range(n_train, n_train + n_eval), "all": range(n_train + n_eval)}[split]
        return [Context(t, i) for t in tasks for i in ids]

    def expert(self, task: str, noise: float = 0.0, seed: int = 0) -> PointReachExpert:
        """A straight-line expert towards the instructed target."""
        self.task(task)
        return PointReachExpert(noise, seed)

    def make_env(self, **options: Any) -> PointReachEnv:
        options.setdefault("max_steps", self._max_steps)
        options.setdefault("success_radius", self._success_radius)
        return PointReachEnv(**options)
