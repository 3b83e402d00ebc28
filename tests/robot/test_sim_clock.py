"""robot_rl/robot/sim_clock.py: the stand-in's sim-time pacing, on made-up wall times."""

from __future__ import annotations

import pytest

from robot_rl.robot.sim_clock import SimPacer


def test_real_time_pace_steps_once_per_period() -> None:
    p = SimPacer(period_s=0.1, speed=1.0, wall_start=100.0)
    assert p.sim_time == 1.0 and not p.due(100.05) and p.due(100.1)
    times = []
    wall = 100.0
    for _ in range(50):  # poll every 10 ms of wall time
        wall += 0.01
        if p.due(wall):
            times.append(p.advance(wall))
    assert p.steps == 5 and p.capped == 0
    assert times == pytest.approx([1.1, 1.2, 1.3, 1.4, 1.5])
    assert p.speed_reached(wall) == pytest.approx(1.0, abs=0.01)


def test_faster_pace_and_every_step_exactly_one_period() -> None:
    p = SimPacer(period_s=0.1, speed=10.0, wall_start=0.0)
    wall, last = 0.0, p.sim_time
    while wall < 1.0:
        wall += 0.001
        if p.due(wall):
            now = p.advance(wall)
            assert now - last == pytest.approx(0.1)  # never a jump of more than one control period
            last = now
    assert p.steps in (99, 100) and p.capped == 0
    assert p.speed_reached(wall) == pytest.approx(10.0, rel=0.02)


def test_slow_steps_are_capped_not_caught_up() -> None:
    # Each step costs 0.05 s of wall time while the target pace wants one every 0.01 s (speed 10).
    p = SimPacer(period_s=0.1, speed=10.0, wall_start=0.0)
    wall = 0.0
    for _ in range(20):
        wall = max(wall, p.due_at())
        p.advance(wall)
        # No catching up in a burst: after a step the next is due at most one interval (0.01 s) in the past.
        assert p.due_at() >= wall - 0.01 - 1e-9
        wall += 0.05
        assert p.due(wall)  # behind: the next step is due at once
    assert p.capped >= 18
    assert p.speed_reached(wall) == pytest.approx(2.0, rel=0.05)  # 0.1 sim s per 0.05 wall s


def test_speed_zero_is_always_due() -> None:
    p = SimPacer(period_s=0.05, speed=0.0, wall_start=5.0)
    assert p.due(5.0) and p.due_at() == float("-inf")
    for i in range(10):
        p.advance(5.0 + 0.001 * i)
    assert p.sim_time == pytest.approx(1.5) and p.capped == 0
    assert p.speed_reached(5.01) == pytest.approx(50.0)


@pytest.mark.parametrize("kwargs, needle", [({"period_s": 0.0, "speed": 1.0}, "period_s"),
                                            ({"period_s": 0.1, "speed": -1.0}, "speed")])
def test_bad_pacer_arguments(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        SimPacer(wall_start=0.0, **kwargs)
