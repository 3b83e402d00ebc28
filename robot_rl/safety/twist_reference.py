"""The pose twists are computed from, so that an integrating velocity controller stays in the box.

MoveIt Servo (and the sim robot) *integrate* the twists they receive into a commanded pose that
the arm then tracks with some lag. A twist computed from the *measured* pose,
``v = (clip(measured + delta) - measured) / dt``, moves that commanded pose to
``clip(measured + delta) + lag``: near the workspace boundary it overshoots the box by the
tracking lag (15 mm at 0.25 m/s in the tabletop sim). While the executor commands motion tick
after tick, the controller's commanded pose is the executor's own previous target, so twists are
computed from that target instead; after any pause (hold, stop, e-stop, a late tick) the
controller has caught up and the measured pose is the reference again.

Limit: a twist stays in force until the next one (or the controller's timeout), so a tick that
comes late lets the controller apply the last twist once more: the command can then pass the box
by up to one step (``max_step_translation_m``). Controllers that integrate from the measured state
(MoveIt Servo does, at its own rate) do not have the lag part of the problem.
"""

from __future__ import annotations

import numpy as np


class TwistReference:
    """The previous twist target while motion is continuous, else the measured pose."""

    def __init__(self, max_gap_s: float) -> None:
        self.max_gap_s = max_gap_s  # a longer gap since the last motion command ends continuity
        self._last: tuple[np.ndarray, np.ndarray, float] | None = None  # position (3,), quaternion (4,), time

    def base(self, position: np.ndarray, orientation: np.ndarray, now_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The pose to apply the next delta to: the last target if it was commanded recently."""
        if self._last is not None and 0.0 <= now_s - self._last[2] <= self.max_gap_s:
            return self._last[0], self._last[1]
        return np.asarray(position, dtype=np.float64), np.asarray(orientation, dtype=np.float64)

    def commanded(self, position: np.ndarray, orientation: np.ndarray, now_s: float) -> None:
        """A twist towards this target pose went out at ``now_s``."""
        self._last = (np.asarray(position, dtype=np.float64).copy(), np.asarray(orientation, dtype=np.float64).copy(),
                      now_s)

    def reset(self) -> None:
        """The arm was told to stop (zero twist, or nothing): the next motion starts from the measured pose."""
        self._last = None

