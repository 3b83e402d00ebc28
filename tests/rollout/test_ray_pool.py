"""The Ray backend against a local Ray instance: same results and the same failure handling."""

import os
import signal

import pytest
import ray
from test_pool_collect import VisualReacher
from test_randomize_flag_pools import check_randomize_flag

from robot_rl.env import make_suite
from robot_rl.rollout.collector import CollectStats, RolloutJob, collect
from robot_rl.rollout.config import RolloutConfig, make_pool
from robot_rl.rollout.worker import SuiteEnvFactory


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_backend_collects_and_survives_a_killed_actor(local_ray):
    suite = make_suite("point_reach")
    jobs = [RolloutJob(c, "g") for c in suite.contexts("reach_red")[:4] for _ in range(2)]
    cfg = RolloutConfig(backend="ray", num_workers=2, step_timeout_s=30, ray_cpus_per_worker=0.5)
    with make_pool(SuiteEnvFactory("point_reach"), cfg) as pool:
        victim = pool.actor_pid(0)

        def kill_once(call):
            if call == 3:
                os.kill(victim, signal.SIGKILL)

        stats = CollectStats()
        results = collect(pool, VisualReacher(on_call=kill_once), jobs, stats=stats)
        assert pool.restarts == 1
    assert stats.failures == 1
    assert sorted(r.job.context for r in results) == sorted(j.context for j in jobs)
    assert sum(r.success for r in results) >= 7


def test_ray_backend_passes_the_randomize_flag_with_each_reset(local_ray):
    check_randomize_flag("ray")
