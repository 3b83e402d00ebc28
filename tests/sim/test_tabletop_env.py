"""The tabletop env against the Env contract and its spec: determinism, units, clipping, observations."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.env import Context, make_suite
from robot_rl.errors import ConfigError
from sim.tabletop.env import ActionError, TabletopEnv
from sim.tabletop.suite import TabletopSuite


@pytest.fixture(scope="module")
def suite() -> TabletopSuite:
    return make_suite("tabletop")


@pytest.fixture(scope="module")
def env(suite):
    env = suite.make_env()
    yield env
    env.close()


def _zero() -> np.ndarray:
    a = np.zeros(7, dtype=np.float32)
    a[6] = 1.0  # keep the gripper open
    return a


def test_suite_is_found_by_name_and_has_disjoint_splits(suite):
    assert isinstance(suite, TabletopSuite)
    assert len(suite.tasks()) >= 6
    for info in suite.tasks():
        train = suite.contexts(info.task, "train")
        held_out = suite.contexts(info.task, "eval")
        assert len(train) == info.num_train_contexts >= 50
        assert len(held_out) == info.num_eval_contexts >= 50
        assert not set(train) & set(held_out)
        assert set(suite.contexts(info.task, "all")) == set(train) | set(held_out)
    # Instructions differ between tasks, so a policy must read them.
    assert len({t.instruction for t in suite.tasks()}) == len(suite.tasks())
    with pytest.raises(ConfigError, match="no task 'fly'"):
        suite.contexts("fly")
    with pytest.raises(ConfigError, match="split"):
        suite.contexts(split="test")


def test_observation_matches_spec_exactly(env, suite):
    ctx = suite.contexts("pick_red")[0]
    obs = env.reset(ctx)
    assert set(obs.images) == set(env.spec.camera_names)
    for cam in env.spec.cameras:
        img = obs.images[cam.name]
        assert img.shape == cam.shape and img.dtype == np.uint8
        assert img.std() > 5, f"{cam.name} image is blank"
    assert obs.proprio.shape == (env.spec.proprio_dim,) and obs.proprio.dtype == np.float32
    assert obs.instruction == suite.task("pick_red").instruction
    # Home pose: fingers down (axis-angle has no roll/pitch) and the gripper open (+1).
    rot = obs.proprio[env.spec.proprio_slice("eef_axis_angle")]
    assert np.allclose(rot[:2], 0.0, atol=1e-3)
    assert obs.proprio[env.spec.proprio_slice("gripper")][0] == pytest.approx(1.0, abs=0.02)


def test_reset_is_deterministic_bit_for_bit(env, suite):
    ctx = suite.contexts("stack_red_green", "eval")[3]
    first = env.reset(ctx)
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(rng.uniform(-1, 1, 7).astype(np.float32) * env.spec.action_high)
    env.reset(suite.contexts("push_red_target")[1])  # another context in between
    again = env.reset(ctx)
    for cam in first.images:
        assert np.array_equal(first.images[cam], again.images[cam])
    assert np.array_equal(first.proprio, again.proprio)
    # A second env built from scratch gives the same scene too.
    other = suite.make_env()
    try:
        fresh = other.reset(ctx)
        for cam in first.images:
            assert np.array_equal(first.images[cam], fresh.images[cam])
    finally:
        other.close()


def test_different_contexts_give_different_scenes(env, suite):
    a = env.reset(Context("pick_red", 0)).images["agentview"]
    b = env.reset(Context("pick_red", 1)).images["agentview"]
    c = env.reset(Context("pick_red", 50)).images["agentview"]
    assert not np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_position_delta_moves_the_end_effector_in_metres(env, axis):
    env.reset(Context("pick_red", 2))
    before = env.observation().proprio[:3].copy()
    action = _zero()
    action[axis] = 0.03
    after = env.step(action).obs.proprio[:3]
    moved = after - before
    assert moved[axis] == pytest.approx(0.03, abs=0.003)
    assert np.abs(np.delete(moved, axis)).max() < 0.003


def test_rotation_delta_turns_the_end_effector_in_radians(env):
    obs = env.reset(Context("pick_red", 2))
    yaw0 = obs.proprio[5]
    action = _zero()
    action[5] = 0.3
    obs = env.step(action).obs
    assert obs.proprio[5] - yaw0 == pytest.approx(0.3, abs=0.02)
    assert np.allclose(obs.proprio[3:5], 0.0, atol=0.02)
    # Rotation is about the end-effector point: it stays put.
    assert np.linalg.norm(env.step(_zero()).obs.proprio[:3] - obs.proprio[:3]) < 0.003


def test_gripper_command_closes_and_opens(env):
    env.reset(Context("pick_red", 2))
    action = _zero()
    action[6] = -1.0
    for _ in range(3):
        obs = env.step(action, render=False).obs
    assert obs.proprio[6] == pytest.approx(-1.0, abs=0.05)
    action[6] = 1.0
    for _ in range(3):
        obs = env.step(action, render=False).obs
    assert obs.proprio[6] == pytest.approx(1.0, abs=0.05)


def test_actions_are_clipped_to_the_spec_limits(env):
    obs = env.reset(Context("pick_red", 2))
    action = _zero()
    action[1] = 1.0  # 1 m requested; the spec allows 0.05 m per step
    result = env.step(action)
    assert result.info["clipped"] is True
    assert result.obs.proprio[1] - obs.proprio[1] == pytest.approx(env.spec.action_high[1], abs=0.004)
    assert env.step(_zero()).info["clipped"] is False


def test_bad_actions_are_refused_with_our_error(env):
    env.reset(Context("pick_red", 0))
    with pytest.raises(ActionError, match="shape"):
        env.step(np.zeros(6))
    with pytest.raises(ActionError, match="non-finite"):
        env.step(np.array([np.nan, 0, 0, 0, 0, 0, 1.0]))


def test_render_false_skips_cameras_but_keeps_proprio(env):
    env.reset(Context("pick_red", 4))
    lazy = env.step(_zero(), render=False)
    assert lazy.obs.images == {}
    full = env.observation()
    assert np.array_equal(lazy.obs.proprio, full.proprio)
    assert set(full.images) == set(env.spec.camera_names)


def test_episode_ends_at_the_limit(env):
    env.reset(Context("pick_red", 0))
    for t in range(1, env.max_steps + 1):
        result = env.step(_zero(), render=False)
        assert result.done == (t == env.max_steps)
    assert result.info["timeout"] is True and not result.success


def test_unknown_context_and_bad_options_are_clear_errors(env, suite):
    with pytest.raises(ConfigError, match="no task"):
        env.reset(Context("nope", 0))
    with pytest.raises(ConfigError, match="init_id"):
        env.reset(Context("pick_red", 100))
    with pytest.raises(ConfigError, match="shadowz: unknown key"):
        suite.make_env(shadowz=True)
    with pytest.raises(ConfigError, match="timestep"):
        suite.make_env(timestep=0.003)


def test_env_class_is_an_env(env):
    assert isinstance(env, TabletopEnv)


def test_shadows_are_off_by_default_and_switchable(env, suite):
    ctx = Context("place_red_bowl", 0)
    plain = env.reset(ctx).images["agentview"]
    shadowed_env = suite.make_env(shadows=True)
    try:
        shadowed = shadowed_env.reset(ctx).images["agentview"]
    finally:
        shadowed_env.close()
    assert env.config.shadows is False
    assert np.abs(shadowed.astype(int) - plain.astype(int)).mean() > 1.0


def test_other_image_sizes_follow_the_spec():
    from robot_rl.spec import load_spec

    data = load_spec("tabletop").to_dict()
    data["cameras"] = [{"name": "agentview", "height": 96, "width": 160}, {"name": "wrist", "height": 600, "width": 700}]
    spec = type(load_spec("tabletop")).from_dict(data)
    env = TabletopSuite(spec=spec).make_env()
    try:
        obs = env.reset(Context("pick_red", 0))
        assert obs.images["agentview"].shape == (96, 160, 3)
        assert obs.images["wrist"].shape == (600, 700, 3)
    finally:
        env.close()
