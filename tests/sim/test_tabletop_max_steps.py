"""The ``max_steps`` option: one episode limit for every tabletop task, replacing each task's own."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.env import Context, make_suite
from robot_rl.errors import ConfigError
from sim.tabletop.tasks import TASKS_BY_NAME


def test_suite_reports_the_override_and_defaults_are_unchanged():
    default = {t.task: t.max_steps for t in make_suite("tabletop", spec="tabletop_64").tasks()}
    assert default["pick_red"] == TASKS_BY_NAME["pick_red"].max_steps == 60
    assert default["push_red_target"] == 120
    short = make_suite("tabletop", spec="tabletop_64", max_steps=40)
    assert {t.max_steps for t in short.tasks()} == {40}


def test_env_times_out_at_the_override():
    env = make_suite("tabletop", spec="tabletop_64", max_steps=5).make_env()
    try:
        env.reset(Context("pick_red", 0))
        assert env.max_steps == 5
        hold = np.zeros(7, dtype=np.float32)  # stay put, gripper closing: never a success
        results = [env.step(hold, render=False) for _ in range(5)]
        assert [r.done for r in results] == [False] * 4 + [True]
        assert results[-1].info["timeout"] and not results[-1].success
    finally:
        env.close()


def test_bad_values_are_refused_naming_the_field():
    for bad in (0, -3, "forty"):
        with pytest.raises(ConfigError, match="max_steps"):
            make_suite("tabletop", max_steps=bad)
