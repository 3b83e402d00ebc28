"""Pacing of the stand-in's sim time (``publish_clock``): when to take the next control step, and what it reached.

With ``publish_clock`` the robot stand-in owns time: it publishes ``/clock`` and every other node runs
with ``use_sim_time``. It advances the clock by exactly one control period per step and publishes it
after the step, so a node following ``/clock`` never sees time skip a control step (its timers fire
once per period, in order, whatever the pace). The pace is ``speed`` sim seconds per wall second::

    wall  0 ------- p/s ------- 2p/s ------- 3p/s ...     (p = control period, s = speed)
    sim   0 -- p -------- 2p --------- 3p ...             one step when the wall clock says it is due

When a step (physics + rendering + publishing) takes longer than ``p / s`` of wall time the clock
falls behind the target. It does not catch up in a burst (that would hand the other nodes several
periods at once, with no time to answer in between): the target is moved back to now and the step
is counted as ``capped``. ``speed = 0`` steps as fast as the stand-in can. :attr:`speed_reached`
is sim seconds per wall second since the start.

Pure logic over numbers (wall times are passed in), so it is tested without ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimPacer:
    """One control period of sim time per step, at ``speed`` x real time; see the module docstring.

    :param period_s: the control period: sim seconds per step.
    :param speed: sim seconds per wall second to aim for; 0 = as fast as steps are asked for.
    :param wall_start: the wall time [s, any monotonic clock] of sim time ``sim_start``.
    :param sim_start: the first sim time [s]; ROS treats time 0 as "unset", so start above it.
    """

    period_s: float
    speed: float
    wall_start: float
    sim_start: float = 1.0
    steps: int = 0
    capped: int = 0
    _anchor_wall: float = field(init=False)
    _anchor_steps: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.period_s <= 0:
            raise ValueError(f"period_s: got {self.period_s}; must be > 0")
        if self.speed < 0:
            raise ValueError(f"speed: got {self.speed}; must be >= 0 (0 = as fast as it goes)")
        self._anchor_wall = self.wall_start

    @property
    def sim_time(self) -> float:
        """The current sim time [s]: ``sim_start`` + steps x period (no float drift from repeated adding)."""
        return self.sim_start + self.steps * self.period_s

    def due_at(self) -> float:
        """The wall time at which the next step is due (``-inf`` with speed 0: always)."""
        if self.speed == 0:
            return float("-inf")
        return self._anchor_wall + (self.steps - self._anchor_steps + 1) * self.period_s / self.speed

    def due(self, wall_now: float) -> bool:
        """Whether the next step may be taken at ``wall_now``."""
        return wall_now >= self.due_at()

    def advance(self, wall_now: float) -> float:
        """Take one step at ``wall_now``: the clock moves by exactly one period; returns the new sim time.

        A step taken more than one period (in wall terms) after it was due is ``capped``: the pace is
        re-anchored at now instead of catching up.
        """
        if self.speed > 0 and wall_now - self.due_at() > self.period_s / self.speed:
            self.capped += 1
            self._anchor_wall, self._anchor_steps = wall_now - self.period_s / self.speed, self.steps
        self.steps += 1
        return self.sim_time

    def speed_reached(self, wall_now: float) -> float:
        """Sim seconds per wall second since the start (0 before any wall time has passed)."""
        elapsed = wall_now - self.wall_start
        return self.steps * self.period_s / elapsed if elapsed > 0 else 0.0
