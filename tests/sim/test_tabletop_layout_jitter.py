"""The ``layout_jitter`` option: LIBERO-style contexts, one shared layout perturbed per context."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from robot_rl.env import make_suite
from robot_rl.errors import ConfigError
from sim.tabletop.tasks import (NUM_EVAL, NUM_TRAIN, TASKS, TASKS_BY_NAME, jittered_scene, sample_scene, shared_layout,
                               task_layout)

JITTER = 0.04


def test_jittered_scenes_stay_within_the_jitter_of_one_shared_layout():
    base = shared_layout(0)
    for task in TASKS:
        scenes = [jittered_scene(task, i, JITTER) for i in range(NUM_TRAIN + NUM_EVAL)]
        assert scenes[3] == jittered_scene(task, 3, JITTER)  # a pure function of the context
        keys = {tuple(np.round(s.cubes["red"], 6)) for s in scenes}
        assert len(keys) == len(scenes)  # every context differs (train and eval never share one)
        for s in scenes:
            for colour, (x, y, _) in s.cubes.items():
                bx, by, _ = base.cubes[colour]
                assert max(abs(x - bx), abs(y - by)) <= JITTER + 1e-12
            for prop, (x, y) in s.props.items():
                bx, by = base.props[prop]
                assert max(abs(x - bx), abs(y - by)) <= JITTER + 1e-12
            cubes = [np.array(v[:2]) for v in s.cubes.values()]
            for a in range(len(cubes)):
                for b in range(a + 1, len(cubes)):
                    assert np.linalg.norm(cubes[a] - cubes[b]) >= 0.08  # two cube footprints apart


def test_jitter_zero_is_the_shared_layout_and_the_default_scenes_are_unchanged():
    s = jittered_scene(TASKS_BY_NAME["pick_red"], 60, 0.0)
    assert {c: v[:2] for c, v in s.cubes.items()} == {c: v[:2] for c, v in shared_layout(0).cubes.items()}
    assert s.props == shared_layout(0).props  # only the cube yaws (+-0.3 rad) and the gripper start vary
    # The option is additive: without it the contexts are the per-context random layouts.
    assert sample_scene(TASKS_BY_NAME["pick_red"], 0).cubes != shared_layout(0).cubes


def test_gripper_jitter_starts_near_the_layouts_home_pose():
    base = np.array(shared_layout(0).gripper)
    task = TASKS_BY_NAME["pick_blue"]
    starts = np.array([jittered_scene(task, i, 0.01, gripper_jitter=0.01).gripper for i in range(NUM_TRAIN + NUM_EVAL)])
    off = starts - base  # (N, 4): x, y, z [m], yaw [rad]
    assert np.all(np.abs(off[:, :3]) <= 0.01 + 1e-12) and np.all(np.abs(off[:, 3]) <= 0.1 + 1e-12)
    assert off[:, :3].std(0).min() > 0.004 and off[:, 3].std() > 0.04  # spread over the whole +-range
    # Only the gripper changes: the objects are those of the same context without the option.
    assert jittered_scene(task, 7, 0.01, gripper_jitter=0.01).cubes == jittered_scene(task, 7, 0.01).cubes
    free = np.array([jittered_scene(task, i, 0.01).gripper for i in range(NUM_TRAIN)])
    assert np.abs(free[:, :2]).max() > 0.03  # the default start box is +-4 cm


def test_env_resets_to_the_jittered_scene_and_the_option_is_validated():
    with pytest.raises(ConfigError, match="gripper_jitter: needs layout_jitter"):
        make_suite("tabletop", gripper_jitter=0.01)
    with pytest.raises(ConfigError, match="layout_jitter"):
        make_suite("tabletop", layout_jitter=-0.01)
    suite = make_suite("tabletop", spec="tabletop_64", layout_jitter=JITTER)
    env = suite.make_env(settle_steps=0)
    try:
        ctx = suite.contexts("pick_blue", "eval")[0]
        env.reset(ctx)
        state = env.privileged_state()
        want = jittered_scene(TASKS_BY_NAME["pick_blue"], ctx.init_id, JITTER)
        for colour, (x, y, _) in want.cubes.items():
            np.testing.assert_allclose(state["cubes"][colour]["pos"][:2], (x, y), atol=1e-6)
    finally:
        env.close()


def _quickstart_suite_options() -> dict:
    config = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"
    return yaml.safe_load(config.read_text())["suite_options"]


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"layout_jitter": JITTER}, "quickstart"])
@pytest.mark.parametrize("task", ["pick_red", "pick_blue"])
def test_quickstart_experts_succeed_on_95_percent_of_jittered_contexts(task, options):
    options = _quickstart_suite_options() if options == "quickstart" else {"spec": "tabletop_64", **options}
    suite = make_suite("tabletop", **options)
    env = suite.make_env()
    ok = 0
    contexts = suite.contexts(task, "all")
    try:
        expert = suite.expert(task, noise=0.1, seed=0)
        for ctx in contexts:
            env.reset(ctx)
            expert.reset(env)
            for _ in range(env.max_steps):
                result = env.step(expert.act(), render=False)
                if result.done:
                    break
            ok += int(result.success)
    finally:
        env.close()
    assert ok / len(contexts) >= 0.95, (task, ok)


def test_per_task_layouts_are_fixed_per_task_and_jittered_per_context():
    layouts = {t.name: task_layout(t.name) for t in TASKS}
    assert len({tuple(np.round(v.cubes["red"], 6)) for v in layouts.values()}) == len(TASKS)  # one layout per task
    assert task_layout("pick_red") == layouts["pick_red"]  # drawn once, the same everywhere
    for task in TASKS:
        base = layouts[task.name]
        for i in (0, 17, NUM_TRAIN + 3):
            s = jittered_scene(task, i, 0.01, per_task=True, gripper_jitter=0.01)
            for colour, (x, y, _) in s.cubes.items():
                assert max(abs(x - base.cubes[colour][0]), abs(y - base.cubes[colour][1])) <= 0.01 + 1e-12
            assert np.abs(np.array(s.gripper[:3]) - base.gripper[:3]).max() <= 0.01 + 1e-12
    # The shared-layout contexts are untouched by the option's existence.
    assert jittered_scene(TASKS[0], 5, 0.01) == jittered_scene(TASKS[0], 5, 0.01, per_task=False)


def test_per_task_layout_option_is_validated_and_reaches_the_env():
    with pytest.raises(ConfigError, match="layout: 'per_task' needs layout_jitter"):
        make_suite("tabletop", layout="per_task")
    with pytest.raises(ConfigError, match="layout"):
        make_suite("tabletop", layout="random", layout_jitter=0.01)
    suite = make_suite("tabletop", spec="tabletop_64", layout_jitter=0.01, gripper_jitter=0.01, layout="per_task")
    env = suite.make_env(settle_steps=0)
    try:
        for task in ("push_red_target", "stack_red_green"):
            ctx = suite.contexts(task, "eval")[0]
            env.reset(ctx)
            want = jittered_scene(TASKS_BY_NAME[task], ctx.init_id, 0.01, gripper_jitter=0.01, per_task=True)
            for colour, (x, y, _) in want.cubes.items():
                np.testing.assert_allclose(env.privileged_state()["cubes"][colour]["pos"][:2], (x, y), atol=1e-6)
    finally:
        env.close()


@pytest.mark.slow
def test_every_expert_solves_its_own_per_task_layout():
    suite = make_suite("tabletop", spec="tabletop_64", layout_jitter=0.01, gripper_jitter=0.01, layout="per_task")
    env = suite.make_env()
    failed = []
    try:
        for task in TASKS:
            for ctx in suite.contexts(task.name, "eval")[:2]:
                env.reset(ctx)
                expert = suite.expert(task.name, seed=0)
                expert.reset(env)
                for _ in range(env.max_steps):
                    result = env.step(expert.act(), render=False)
                    if result.done:
                        break
                if not result.success:
                    failed.append(f"{task.name}/{ctx.init_id}")
    finally:
        env.close()
    assert len(failed) <= 1, failed  # the experts solve >= 99.5% of random layouts (bench/sim.py --experts)
