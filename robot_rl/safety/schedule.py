"""Absolute target times for the actions of a chunk; late actions are dropped, never replayed.

A chunk (H, A) computed from an observation captured at ``stamp`` means action ``i`` to take
effect at ``stamp + i / rate_hz`` (as in simulation, where action 0 acts on the observed state).
A robot moves ``command_latency_s`` after it is commanded (the embodiment spec's measured
``latency.command_s``), so action ``i`` is *sent* at::

    t_i = stamp + i / rate_hz - command_latency_s

At a control tick at time ``now`` the action due is the one with ``|t_i - now| <= tolerance``
(half a period by default, so exactly one action is due per tick at the control rate). Actions
whose window has passed without being executed are counted as late and skipped: executing an
old action at the wrong time is worse than not executing it. A newer chunk replaces the current
one (receding horizon); a chunk older than the current one is refused.

One exception: a chunk that arrives while the robot has been still since its observation (the
previous chunk ran out before the observation was captured, so the executor was holding) starts
at its arrival: the observed state is still the state, which is exactly what simulation assumes
when it runs a chunk from the observation it was computed on. Without it, running whole chunks
(policy_node's ``replan_every: 0``) would lose the first action of every chunk to the inference
time: the robot carried out 7/8 of the policy's motion.
"""

from __future__ import annotations

import numpy as np

# [s] Float round-off at a window's edge is not lateness: on sim time, ticks and arrivals fall exactly on the
# period grid, so an action due half a period after an arrival sits on the edge of two ticks' windows.
_EDGE_S = 1e-6


class ChunkSchedule:
    """Holds the chunk being executed and answers "which action now?" at each tick."""

    def __init__(self, rate_hz: float, command_latency_s: float = 0.0, tolerance_s: float | None = None) -> None:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        if command_latency_s < 0:
            raise ValueError(f"command_latency_s must be >= 0, got {command_latency_s}")
        self.period_s = 1.0 / rate_hz
        self.command_latency_s = command_latency_s
        self.tolerance_s = 0.5 * self.period_s if tolerance_s is None else tolerance_s
        self.chunk: np.ndarray | None = None  # (H, A)
        self.stamp_s: float | None = None
        self.start_s: float | None = None  # when action 0 is meant to act: the stamp, or the arrival if still
        self.last_sent_s = float("-inf")  # when an action was last handed out
        self.started_on_arrival = 0  # chunks that started at their arrival (total over the schedule's life)
        self._next_index = 0
        self.late_dropped = 0  # total over the schedule's life

    def target_time(self, index: int) -> float:
        """Absolute time [s] at which action ``index`` of the current chunk is to be sent."""
        if self.start_s is None:
            raise RuntimeError("no chunk loaded")
        return self.start_s + index * self.period_s - self.command_latency_s

    def set_chunk(self, chunk: np.ndarray, stamp_s: float, arrival_s: float | None = None) -> bool:
        """Replace the current chunk with ``chunk`` (H, A) stamped ``stamp_s``, received at ``arrival_s``.

        Returns False (and keeps the current chunk) when ``stamp_s`` is not newer than it. If the robot
        was still from before ``stamp_s`` to ``arrival_s`` (no action handed out since the observation
        and none of the previous chunk left), action 0 is due at the first tick after the arrival.
        """
        if self.stamp_s is not None and stamp_s <= self.stamp_s:
            return False
        still = (arrival_s is not None and self.last_sent_s <= stamp_s
                 and (self.chunk is None or self._next_index >= self.chunk.shape[0]
                      or self.target_time(self.chunk.shape[0] - 1) < stamp_s - self.tolerance_s))
        self.chunk = np.asarray(chunk)
        self.stamp_s = stamp_s
        self.start_s = stamp_s
        if still and arrival_s >= stamp_s:
            # Half a period after the arrival: the next tick (within one period) finds action 0 due. On sim time a
            # chunk can arrive at its own stamp (the clock moves only when the stand-in steps, so inference takes
            # no sim time): the tick at the arrival, if it comes after the chunk, or the one a period later sends it.
            self.start_s = max(stamp_s, arrival_s + 0.5 * self.period_s + self.command_latency_s)
            self.started_on_arrival += 1
        self._next_index = 0
        return True

    def action_at(self, now_s: float) -> tuple[int, np.ndarray] | None:
        """The action due at ``now_s`` as ``(index, action (A,))``, or None if none is due.

        Actions whose window ended before ``now_s`` are skipped and counted in ``late_dropped``.
        Each action is returned at most once.
        """
        if self.chunk is None:
            return None
        horizon = self.chunk.shape[0]
        while self._next_index < horizon:
            t = self.target_time(self._next_index)
            if t < now_s - self.tolerance_s - _EDGE_S:  # its window has passed: late
                self.late_dropped += 1
                self._next_index += 1
                continue
            if t <= now_s + self.tolerance_s + _EDGE_S:
                i = self._next_index
                self._next_index += 1
                self.last_sent_s = now_s
                return i, self.chunk[i]
            return None  # next action not due yet
        return None

    def exhausted(self, now_s: float) -> bool:
        """True when no action of the current chunk can still become due."""
        if self.chunk is None:
            return True
        return self.target_time(self.chunk.shape[0] - 1) < now_s - self.tolerance_s - _EDGE_S or \
            self._next_index >= self.chunk.shape[0]
