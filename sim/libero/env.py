"""One robot_rl :class:`~robot_rl.env.Env` over the real LIBERO tasks of a suite.

LIBERO builds a separate robosuite env per task (its scene, objects and predicates come from the
task's BDDL file), and building one takes ~6-15 s. :class:`LiberoEnv` therefore keeps one
``OffScreenRenderEnv`` per task it has seen (least recently used evicted beyond
``max_cached_envs``) and switches between contexts of a task without rebuilding: a soft
``reset()`` (``hard_reset=False``: same MjSim and renderer) followed by ``set_init_state`` with
the official initial state, which overwrites every position and velocity in the scene.

After placing the scene it runs ``settle_steps`` no-op actions (zero motion, gripper open), as
OpenVLA's LIBERO evaluation does (``num_steps_wait = 10``): objects are dropped a few mm above
their supports in the stored states and need these steps to come to rest, and a policy's first
observation should not show them falling. Settle steps do not count towards the episode limit
and are not rendered (cameras are switched off for them; they are re-rendered once at the end).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from robot_rl.env import Context, Env, Observation, StepResult
from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.spec import EmbodimentSpec
from sim.libero import catalog
from sim.libero.config import LiberoOptions
from sim.libero.convert import flip_image, proprio_from_obs, to_libero_action
from sim.libero.rendering import apply_render_flags, make_current, select_backend

log = logging.getLogger(__name__)

# LIBERO's own "do nothing" action: no motion, gripper open (robosuite: -1 opens).
_LIBERO_NOOP = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])


class LiberoEnv(Env):
    """Env over the tasks of one LIBERO suite; contexts are ``(task name, official init-state index)``."""

    def __init__(self, suite: str, spec: EmbodimentSpec, options: LiberoOptions | None = None) -> None:
        self.suite = suite
        self.spec = spec
        self.options = options or LiberoOptions()
        self._tasks = {t.name: t for t in catalog.suite_tasks(suite)}
        self._envs: OrderedDict[str, Any] = OrderedDict()  # task name -> LIBERO ControlEnv, LRU order
        self.num_builds = 0  # LIBERO envs built so far (tests check that contexts switch without rebuilds)
        self._libero_cams = [catalog.CAMERAS[c.name] for c in spec.cameras]
        self._low, self._high = spec.action_low, spec.action_high
        self._task: catalog.LiberoTask | None = None
        self._max_steps = 0
        self._steps = 0
        self._done = True
        if self.options.render:
            self.backend: str | None = select_backend(self.options.render_backend)
        else:
            self.backend = None

    # ---- building -------------------------------------------------------------------------

    def _build(self, task: catalog.LiberoTask) -> Any:
        catalog.configure_paths()
        if self.options.render:
            select_backend(self.options.render_backend)
        from libero.libero.envs import OffScreenRenderEnv
        from libero.libero.envs.env_wrapper import ControlEnv

        common = dict(
            bddl_file_name=str(task.bddl_file),
            hard_reset=False,  # keep the MjSim and its GL context across resets (a hard reset rebuilds both)
            ignore_done=True,  # we enforce the episode limit; robosuite would raise past its horizon
        )
        if self.options.render:
            env = OffScreenRenderEnv(
                **common,
                camera_names=self._libero_cams,
                camera_heights=[c.height for c in self.spec.cameras],
                camera_widths=[c.width for c in self.spec.cameras],
                render_gpu_device_id=self.options.render_device,
            )
            apply_render_flags(env.sim, shadows=self.options.shadows, reflections=self.options.reflections)
        else:
            env = ControlEnv(**common, has_offscreen_renderer=False, use_camera_obs=False)
        self.num_builds += 1
        log.info("built LIBERO env for %s/%s", self.suite, task.name)
        return env

    def _env_for(self, task: catalog.LiberoTask) -> Any:
        if task.name in self._envs:
            self._envs.move_to_end(task.name)
            return self._envs[task.name]
        while len(self._envs) >= self.options.max_cached_envs:
            _, old = self._envs.popitem(last=False)
            old.close()
        self._envs[task.name] = env = self._build(task)
        return env

    @property
    def raw_env(self) -> Any:
        """The LIBERO env of the current task (for inspection: ``raw_env.sim``, ``check_success()``)."""
        if self._task is None:
            raise RobotRLError("no current task: call reset(context) first")
        return self._envs[self._task.name]

    # ---- Env interface ------------------------------------------------------------------------

    def reset(self, context: Context) -> Observation:
        task = self._tasks.get(context.task)
        if task is None:
            raise ConfigError(
                f"context '{context.id}': suite '{self.suite}' has no task '{context.task}'; tasks: {', '.join(self._tasks)}"
            )
        states = catalog.init_states(self.suite, task.index)
        if not 0 <= context.init_id < len(states):
            raise ConfigError(f"context '{context.id}': init_id must be in [0, {len(states) - 1}] (official init states)")
        env = self._env_for(task)
        make_current(env.sim)
        with _numpy_global_seed(self._context_seed(task, context.init_id)):
            env.reset()  # samples fixture poses (see _context_seed)
        for robot in env.env.robots:
            # A soft reset keeps the gripper's command integrator (Panda fingers ramp towards it); a
            # freshly built env starts it at zero. Without this the first episode after a build differs.
            robot.gripper.current_action = np.zeros(robot.gripper.dof)
        env.set_init_state(states[context.init_id])
        with self._cameras_off(env):
            for _ in range(self.options.settle_steps):
                env.step(_LIBERO_NOOP)
        raw = env.env._get_observations(force_update=True)
        self._task, self._steps, self._done = task, 0, False
        self._max_steps = self.options.max_steps or catalog.MAX_STEPS[catalog.base_suite(self.suite)]
        return self._observation(raw)

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        # robosuite computes camera observations inside every step, so ``render`` cannot skip them here.
        if self._task is None:
            raise RobotRLError("step() before reset(): call reset(context) first")
        if self._done:
            raise RobotRLError(f"episode of '{self._task.name}' is over (success or limit); call reset(context)")
        a = np.asarray(action, dtype=np.float32)
        if a.shape != (self.spec.action_dim,):
            raise ConfigError(f"action: got shape {a.shape}; expected ({self.spec.action_dim},) in spec '{self.spec.name}' units")
        if not np.all(np.isfinite(a)):
            raise ConfigError(f"action: got non-finite values {a.tolist()}; every entry must be finite")
        a = np.clip(a, self._low, self._high)
        env = self.raw_env
        make_current(env.sim)  # another env (or renderer) may have made its own context current since
        raw, _, _, _ = env.step(to_libero_action(a, self._high))
        self._steps += 1
        success = bool(env.check_success())
        self._done = success or self._steps >= self._max_steps
        return StepResult(self._observation(raw), success, self._done, {"steps": self._steps, "action": a})

    @property
    def max_steps(self) -> int:
        if self._task is None:
            raise RobotRLError("max_steps is per task: call reset(context) first")
        return self._max_steps

    def close(self) -> None:
        while self._envs:
            _, env = self._envs.popitem()
            env.close()
        self._task, self._done = None, True

    # ---- helpers --------------------------------------------------------------------------

    def _observation(self, raw: dict[str, np.ndarray]) -> Observation:
        if self.options.render:
            images = {
                cam.name: flip_image(raw[f"{lib}_image"], self.options.image_convention)
                for cam, lib in zip(self.spec.cameras, self._libero_cams)
            }
        else:
            images = {cam.name: np.zeros(cam.shape, np.uint8) for cam in self.spec.cameras}
        assert self._task is not None
        return Observation(images, proprio_from_obs(raw), self._task.instruction, float(self.raw_env.sim.data.time))

    def _context_seed(self, task: catalog.LiberoTask, init_id: int) -> int:
        """Seed of the randomness a reset draws that the official init state does not cover.

        LIBERO's reset places jointless fixtures (cabinets, stoves, ...) by sampling their body pose
        in the *model* from numpy's global RNG (up to ~1.5 cm and ~1 degree here); the stored init
        states hold only joint positions and velocities, so they cannot undo it. OpenVLA's evaluation
        lets these poses vary per episode; we draw them from a seed fixed by (seed, task, init_id),
        so a context is the same scene in every episode, worker and process.
        """
        return int(np.random.SeedSequence([self.options.seed, task.index, init_id]).generate_state(1)[0])

    @contextmanager
    def _cameras_off(self, env: Any) -> Iterator[None]:
        """Skip rendering while stepping (settle steps); a forced update re-renders afterwards."""
        cams = [o for o in env.env._observables.values() if o.modality == "image" and o.is_enabled()]
        for o in cams:
            o.set_enabled(False)
        try:
            yield
        finally:
            for o in cams:
                o.set_enabled(True)


@contextmanager
def _numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG (which LIBERO samples from) for a block, then restore the caller's state."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
