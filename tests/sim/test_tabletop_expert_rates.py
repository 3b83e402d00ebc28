"""The issue's bar: every task's scripted expert succeeds on >= 95% of all its 100 contexts."""

from __future__ import annotations

import pytest

from robot_rl.env import make_suite


@pytest.mark.slow
def test_every_expert_succeeds_on_95_percent_of_all_contexts():
    suite = make_suite("tabletop")
    env = suite.make_env()
    rates = {}
    try:
        for info in suite.tasks():
            expert = suite.expert(info.task, seed=0)
            contexts = suite.contexts(info.task, "all")
            ok = 0
            for ctx in contexts:
                env.reset(ctx)
                expert.reset(env)
                for _ in range(env.max_steps):
                    result = env.step(expert.act(), render=False)
                    if result.done:
                        break
                ok += int(result.success)
            rates[info.task] = ok / len(contexts)
    finally:
        env.close()
    assert all(rate >= 0.95 for rate in rates.values()), rates
