"""``RolloutJob.randomize`` reaches the env with every reset, on both pool backends: one worker
holding a randomized tabletop env runs randomized, nominal and randomized episodes in turn."""

from __future__ import annotations

import numpy as np

from robot_rl.env import Context, make_suite
from robot_rl.rollout.collector import RolloutJob, SampledChunks, collect
from robot_rl.rollout.config import RolloutConfig, make_pool
from robot_rl.rollout.worker import SuiteEnvFactory

CTX = Context("pick_red", 7)
OPTIONS = {"spec": "tabletop_64", "randomization": {"enabled": True, "seed": 4}}


def _still(observations):
    """Hold still (gripper open): the episode runs to its limit with few decisions."""
    a = np.zeros((len(observations), 8, 7), np.float32)  # (B, H, A)
    a[..., 6] = 1.0
    return SampledChunks(a, np.zeros_like(a))


def check_randomize_flag(backend: str) -> None:
    """Randomized, nominal, randomized episodes of one context on one worker of ``backend``."""
    env = make_suite("tabletop", spec="tabletop_64").make_env()
    try:
        nominal = env.reset(CTX).images
    finally:
        env.close()
    cfg = RolloutConfig(backend=backend, num_workers=1, step_timeout_s=60, ray_cpus_per_worker=1)
    jobs = [RolloutJob(CTX, "a"), RolloutJob(CTX, "b", randomize=False), RolloutJob(CTX, "c")]
    with make_pool(SuiteEnvFactory("tabletop", OPTIONS), cfg) as pool:
        results = collect(pool, _still, jobs, keep_steps=True)
    assert [r.job.group_id for r in results] == ["a", "b", "c"]  # one worker: in order
    first = {r.job.group_id: r.steps[0].obs.images for r in results}

    def same(a, b):
        return all(np.array_equal(a[c], b[c]) for c in nominal)

    assert same(first["b"], nominal)  # nominal right after a randomized episode on the same env
    assert not same(first["a"], nominal) and not same(first["c"], nominal)
    assert not same(first["a"], first["c"])  # and randomized again, with a new draw


def test_randomize_flag_travels_with_each_reset():
    check_randomize_flag("local")  # the Ray backend: tests/rollout/test_ray_pool.py
