"""EnvPool + collect on real worker processes running the numpy point_reach suite."""

import os
import signal

import numpy as np
import pytest

from robot_rl.env import Context, make_suite
from robot_rl.errors import RobotRLError
from robot_rl.rollout.collector import CollectStats, RolloutJob, SampledChunks, collect
from robot_rl.rollout.pool import EnvPool
from robot_rl.rollout.worker import SuiteEnvFactory

COLOUR_RGB = {"red": (230, 40, 40), "blue": (40, 80, 230)}


class VisualReacher:
    """Scripted visual policy: finds the instructed target's pixels and moves the point there."""

    def __init__(self, horizon=4, on_call=None):
        self.horizon, self.on_call, self.calls = horizon, on_call, 0

    def __call__(self, observations):
        self.calls += 1
        if self.on_call:
            self.on_call(self.calls)
        actions = []
        for obs in observations:
            img = obs.images["top"]
            colour = "red" if "red" in obs.instruction else "blue"
            ys, xs = np.nonzero(np.all(img == COLOUR_RGB[colour], axis=-1))
            goal = np.array([xs.mean(), ys.mean()]) / img.shape[1] if len(xs) else obs.proprio
            step = np.clip((goal - obs.proprio) / self.horizon * 2, -0.1, 0.1)
            actions.append(np.repeat(step[None], self.horizon, axis=0))
        a = np.stack(actions).astype(np.float32)  # (B, H, A)
        return SampledChunks(a, np.zeros_like(a))


@pytest.fixture
def suite():
    return make_suite("point_reach")


def test_k_rollouts_per_context_with_batched_inference(suite):
    contexts = suite.contexts(split="train")[:3] + suite.contexts(split="train")[50:53]
    jobs = [RolloutJob(c, f"g/{c.id}") for c in contexts for _ in range(4)]  # K = 4
    stats = CollectStats()
    policy = VisualReacher()
    with EnvPool(SuiteEnvFactory("point_reach"), num_workers=3, timeout_s=20) as pool:
        results = collect(pool, policy, jobs, keep_steps=True, stats=stats)
    assert sorted((r.job.context, r.job.group_id) for r in results) == sorted((j.context, j.group_id) for j in jobs)
    # The visual policy reads the instruction and the image: it must solve nearly everything.
    assert np.mean([r.success for r in results]) >= 0.9
    # Batched: fewer sampler calls than decisions.
    assert stats.decisions == sum(len(r.steps) for r in results)
    assert policy.calls < stats.decisions
    for r in results:
        assert r.env_steps == sum(s.executed for s in r.steps)
        assert all(1 <= s.executed <= 4 for s in r.steps)
        assert r.steps[0].obs.images["top"].shape == (32, 32, 3)


def test_same_context_gives_same_scene(suite):
    env = suite.make_env()
    c = Context("reach_red", 7)
    a, b = env.reset(c), env.reset(c)
    np.testing.assert_array_equal(a.images["top"], b.images["top"])
    assert not np.array_equal(a.images["top"], env.reset(Context("reach_red", 8)).images["top"])
    assert set(suite.contexts(split="train")).isdisjoint(suite.contexts(split="eval"))


def test_killed_worker_is_restarted_and_its_rollout_requeued(suite):
    jobs = [RolloutJob(c) for c in suite.contexts("reach_red")[:6]]
    with EnvPool(SuiteEnvFactory("point_reach"), num_workers=2, timeout_s=20) as pool:
        victim = pool._workers[0].process.pid

        def kill_once(call):
            if call == 2:
                os.kill(victim, signal.SIGKILL)

        stats = CollectStats()
        results = collect(pool, VisualReacher(on_call=kill_once), jobs, stats=stats)
        assert pool.restarts == 1
    assert stats.failures == 1
    assert sorted(r.job.context for r in results) == sorted(j.context for j in jobs)


def test_hung_worker_is_detected_by_timeout(suite, tmp_path):
    flag = str(tmp_path / "hung-once")
    jobs = [RolloutJob(c) for c in suite.contexts("reach_blue")[:4]]
    factory = SuiteEnvFactory("point_reach", env_options={"hang_once_flag": flag})
    with EnvPool(factory, num_workers=2, timeout_s=2.0) as pool:
        stats = CollectStats()
        results = collect(pool, VisualReacher(), jobs, stats=stats)
        assert pool.restarts == 1
    assert os.path.exists(flag) and stats.failures == 1
    assert len(results) == 4


def test_job_that_always_fails_raises_after_retries(suite):
    jobs = [RolloutJob(Context("no_such_task", 0))]
    with EnvPool(SuiteEnvFactory("point_reach"), num_workers=1, timeout_s=10) as pool:
        with pytest.raises(RobotRLError, match="(?s)no_such_task/0 failed 2 times.*no task 'no_such_task'"):
            collect(pool, VisualReacher(), jobs, max_retries=1)
