"""When the policy node decides: at the control rate, on the first new frames after a decision is due.

A free-running control timer samples the newest frame, which is anywhere from 0 to one frame
period old (plus delivery) when the timer fires: at 30 Hz cameras that alone is up to 33 ms of
capture-to-chunk latency. :class:`DecisionTrigger` instead keeps the timer as the *schedule*
and lets frames *trigger* the decision:

- ``act_on="frame"`` (default): at a control tick a decision becomes due (:meth:`due`); the
  node decides as soon as every camera has delivered a frame that arrived at or after that
  moment (:meth:`frame` returns True), so the observation is as fresh as the cameras allow. If
  the frames do not come within ``wait_s`` (a slow or stopped camera), :meth:`deadline` returns
  True and the node decides with what it has (the freshness checks still apply).
- ``act_on="tick"``: the decision is taken at the tick itself with the newest inputs (the
  free-running behaviour; :meth:`due` returns True).

One decision per due tick either way, so chunks still come at the control rate. All times are
seconds on the caller's clock.
"""

from __future__ import annotations

from typing import Literal

ActOn = Literal["frame", "tick"]


class DecisionTrigger:
    """Pure state: which decision is due, and whether the frames it waits for have arrived."""

    def __init__(self, cameras: list[str], act_on: ActOn, wait_s: float) -> None:
        if act_on not in ("frame", "tick"):
            raise ValueError(f"act_on must be 'frame' or 'tick', got {act_on!r}")
        if wait_s <= 0:
            raise ValueError(f"wait_s must be positive, got {wait_s}")
        self.cameras = list(cameras)
        self.act_on = act_on
        self.wait_s = wait_s
        self.due_since: float | None = None  # when the pending decision became due; None = nothing due
        self._arrived: dict[str, float] = {}  # camera -> arrival time of its newest frame

    @property
    def pending(self) -> bool:
        return self.due_since is not None

    def due(self, now: float) -> bool:
        """A control tick wants a decision; True when the caller should decide right now: ``tick`` mode, or
        ``frame`` mode when every camera's frame of this very instant is already in.

        On sim time the clock stands still between a stand-in's step and the next one, so the frames
        stamped with the step can arrive before the tick's timer callback runs, at the same time
        reading. They are the frames the tick waits for; without this the decision waited a whole
        period for the next ones and every chunk reached the executor one period late.
        """
        self.due_since = now
        if self.act_on == "tick":
            return True
        return all(self._arrived.get(c, -float("inf")) >= now for c in self.cameras)

    def frame(self, camera: str, now: float) -> bool:
        """A frame from ``camera`` arrived; True when a decision is due and every camera has a frame since then."""
        self._arrived[camera] = now
        if self.act_on != "frame" or self.due_since is None:
            return False
        return all(self._arrived.get(c, -float("inf")) >= self.due_since for c in self.cameras)

    def deadline(self, now: float) -> bool:
        """True when a decision is still due and its frames did not come within ``wait_s``."""
        return self.due_since is not None and now - self.due_since >= self.wait_s - 1e-9

    def done(self) -> None:
        """The pending decision was taken (or refused): nothing is due until the next tick."""
        self.due_since = None
