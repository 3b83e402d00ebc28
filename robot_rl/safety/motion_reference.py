"""The pose the executor adds each action's delta to: the previous target while motion is continuous.

Controllers track a *commanded* pose that the arm follows with some lag: a pose-tracking
(Cartesian impedance / servo) controller tracks the targets it receives, MoveIt Servo and the sim
robot integrate the twists they receive. While the executor commands motion tick after tick, that
commanded pose is the executor's own previous target, so the next target is that target plus the
action's delta, which is how the simulator composes deltas (the tabletop keeps a commanded pose and
adds each delta to it). Adding deltas to the *measured* pose instead loses the tracking lag on every
step: at the tabletop's speeds the arm carried out about 0.8 of the policy's motion, and near the
workspace boundary a twist overshot the box by the lag (15 mm at 0.25 m/s). After any pause (hold,
stop, e-stop, a late tick) the controller has caught up and the measured pose is the reference again.

Limit: a twist stays in force until the next one (or the controller's timeout), so a tick that
comes late lets the controller apply the last twist once more: the command can then pass the box
by up to one step (``max_step_translation_m``). The outside-the-box check always uses the measured pose.
"""

from __future__ import annotations

import numpy as np


class MotionReference:
    """The previous target while motion is continuous, else the measured pose."""

    def __init__(self, max_gap_s: float, max_lead_m: float = float("inf")) -> None:
        self.max_gap_s = max_gap_s  # a longer gap since the last motion command ends continuity
        self.max_lead_m = max_lead_m  # a target further ahead of the measured pose is given up
        self._last: tuple[np.ndarray, np.ndarray, float] | None = None  # position (3,), quaternion (4,), time

    def base(self, position: np.ndarray, orientation: np.ndarray, now_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The pose to apply the next delta to: the last target if it was commanded recently and the arm
        keeps up with it (within ``max_lead_m``: a blocked arm must not let the targets run away)."""
        if (self._last is not None and 0.0 <= now_s - self._last[2] <= self.max_gap_s
                and float(np.linalg.norm(self._last[0] - np.asarray(position))) <= self.max_lead_m):
            return self._last[0], self._last[1]
        return np.asarray(position, dtype=np.float64), np.asarray(orientation, dtype=np.float64)

    def commanded(self, position: np.ndarray, orientation: np.ndarray, now_s: float) -> None:
        """A command towards this target pose went out at ``now_s``."""
        self._last = (np.asarray(position, dtype=np.float64).copy(), np.asarray(orientation, dtype=np.float64).copy(),
                      now_s)

    def reset(self) -> None:
        """The arm was told to stop or hold: the next motion starts from the measured pose."""
        self._last = None

