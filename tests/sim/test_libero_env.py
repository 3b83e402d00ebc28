"""Real LIBERO tasks from two suites through LiberoEnv: spec, determinism, motion, gripper, limits.

Building a LIBERO env takes ~6-15 s on CPU, so each suite's env is built once per module and
shared; every test resets it to the context it needs.
"""

import mujoco
import numpy as np
import pytest

from robot_rl.env import Context, make_suite
from robot_rl.errors import ConfigError, RobotRLError
from sim.libero.evaluation import evaluate

ZERO = np.zeros(7, np.float32)


def _action(**kw):
    names = ["dx", "dy", "dz", "drx", "dry", "drz", "gripper"]
    a = ZERO.copy()
    a[6] = 1.0  # keep the gripper open unless told otherwise
    for k, v in kw.items():
        a[names.index(k)] = v
    return a


@pytest.fixture(scope="module")
def spatial():
    suite = make_suite("libero_spatial")
    env = suite.make_env()
    yield suite, env
    env.close()


@pytest.fixture(scope="module")
def objects():
    suite = make_suite("libero_object", max_steps=3)  # short episodes for the limit and the protocol
    env = suite.make_env()
    yield suite, env
    env.close()


# Each fixture uses one task only (spatial: task 0, objects: task 1): every other task costs an env build.
@pytest.mark.parametrize("which, task", [("spatial", 0), ("objects", 1)])
def test_observation_matches_the_spec_exactly(which, task, request):
    suite, env = request.getfixturevalue(which)
    info = suite.tasks()[task]
    obs = env.reset(Context(info.task, 0))
    for o in (obs, env.step(_action()).obs):
        assert sorted(o.images) == sorted(suite.spec.camera_names)
        for cam in suite.spec.cameras:
            img = o.images[cam.name]
            assert img.shape == cam.shape and img.dtype == np.uint8 and img.flags.c_contiguous
            assert img.std() > 5  # a real scene, not a blank frame
        assert o.proprio.shape == (suite.spec.proprio_dim,) and o.proprio.dtype == np.float32
        assert np.all(np.isfinite(o.proprio))
        assert o.instruction == info.instruction
    assert env.max_steps == info.max_steps


def test_images_are_upright(spatial):
    suite, env = spatial
    obs = env.reset(Context(suite.tasks()[0].task, 0))
    sim = env.raw_env.sim
    # MuJoCo's own Renderer returns upright images: ours must match it, not its vertical mirror.
    renderer = mujoco.Renderer(sim.model._model, 128, 128)
    try:
        renderer.update_scene(sim.data._data, camera="agentview")
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        ref = renderer.render().astype(np.float64).ravel()
    finally:
        renderer.close()
    ours = obs.images["agentview"].astype(np.float64)
    upright = np.corrcoef(ours.ravel(), ref)[0, 1]
    mirrored = np.corrcoef(ours[::-1].ravel(), ref)[0, 1]
    # Not 1.0: MuJoCo's Renderer also draws collision geoms, which robosuite hides.
    assert upright > 0.7 and upright > mirrored + 0.4, (upright, mirrored)


def test_same_context_same_rollout_and_no_rebuild(spatial):
    suite, env = spatial
    task = suite.tasks()[0].task
    builds = env.num_builds
    acts = [_action(dx=0.03), _action(dz=-0.02, gripper=-1.0), _action(drz=0.2)]
    runs = []
    for init in (3, 3):
        first = env.reset(Context(task, init))
        steps = [env.step(a).obs for a in acts]
        runs.append((first, steps))
    (f1, s1), (f2, s2) = runs
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    env.reset(Context(task, 3))
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # the caller's global RNG is untouched
    np.testing.assert_array_equal(f1.proprio, f2.proprio)
    np.testing.assert_array_equal(f1.images["agentview"], f2.images["agentview"])
    for a, b in zip(s1, s2):
        np.testing.assert_allclose(a.proprio, b.proprio, atol=1e-6)
        np.testing.assert_array_equal(a.images["wrist"], b.images["wrist"])
    other = env.reset(Context(task, 7))  # another official state of the same task: objects elsewhere
    assert np.abs(other.images["agentview"].astype(int) - f1.images["agentview"]).mean() > 1.0
    assert env.num_builds == builds  # contexts of one task switch without rebuilding the env


@pytest.mark.parametrize("axis, sign", [(2, 1.0), (0, -1.0), (1, 1.0)])
def test_actions_move_the_end_effector_in_the_commanded_direction(spatial, axis, sign):
    suite, env = spatial
    start = env.reset(Context(suite.tasks()[0].task, 0)).proprio[:3].copy()
    cmd = np.zeros(3)
    cmd[axis] = sign * 0.05
    for _ in range(4):
        obs = env.step(_action(dx=cmd[0], dy=cmd[1], dz=cmd[2])).obs
    moved = obs.proprio[:3] - start
    assert sign * moved[axis] > 0.015, moved  # 4 steps of 5 cm commanded: OSC covers a good part of it
    others = np.delete(moved, axis)
    assert np.all(np.abs(others) < 0.5 * abs(moved[axis])), moved


def test_gripper_convention_minus_one_closes_plus_one_opens(spatial):
    suite, env = spatial
    start = env.reset(Context(suite.tasks()[0].task, 0)).proprio[6]
    assert start > 0.5  # settle steps leave the gripper open, as OpenVLA's no-op does
    for _ in range(8):
        closed = env.step(_action(gripper=-1.0)).obs.proprio[6]
    assert closed < start - 0.5
    for _ in range(8):
        opened = env.step(_action(gripper=1.0)).obs.proprio[6]
    assert opened > closed + 0.5


def test_episode_limit_bad_actions_and_bad_contexts(objects):
    suite, env = objects
    task = suite.tasks()[1].task
    with pytest.raises(ConfigError, match="init_id"):
        env.reset(Context(task, 50))
    with pytest.raises(ConfigError, match="no task"):
        env.reset(Context("pick_up_the_moon", 0))
    env.reset(Context(task, 0))
    with pytest.raises(ConfigError, match="shape"):
        env.step(np.zeros(6, np.float32))
    with pytest.raises(ConfigError, match="non-finite"):
        env.step(np.full(7, np.nan, np.float32))
    results = [env.step(_action(dz=1.0)) for _ in range(3)]  # out-of-range dz is clipped, not refused
    assert [r.done for r in results] == [False, False, True] and not results[-1].success
    assert results[0].info["action"][2] == pytest.approx(0.05)
    with pytest.raises(RobotRLError, match="over"):
        env.step(ZERO)


def test_standard_protocol_runs_a_policy_and_tabulates(objects):
    suite, env = objects
    calls = []

    def policy(obs):
        calls.append(obs.instruction)
        return np.tile(_action(), (2, 1))  # (H=2, A=7) chunk

    report = evaluate(suite, policy, tasks=[1], init_ids=[0, 5], env=env)
    task = suite.tasks()[1].task
    assert [(e.task, e.init_id) for e in report.episodes] == [(task, 0), (task, 5)]
    assert all(e.steps == 3 and not e.success for e in report.episodes)
    assert report.success_rate == 0.0 and [(r.task, r.episodes) for r in report.per_task()] == [(task, 2)]
    assert len(calls) == 2 * 2  # 3 steps with chunks of 2: two policy calls per episode
    with pytest.raises(ConfigError, match="out of range"):
        evaluate(suite, policy, tasks=[10], env=env)
