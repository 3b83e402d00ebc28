"""The latest position of each commanded joint, from ``sensor_msgs/JointState`` contents.

Drivers may publish several JointState messages, each with a subset of the joints, so positions
are kept per joint with their own stamp; the positions are as old as the oldest joint. Joints the
executor does not command are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from robot_rl.safety.refusals import Reason


class JointStateCache:
    """Latest ``(position, stamp)`` per commanded joint; times in seconds on the caller's clock."""

    def __init__(self, joint_names: Sequence[str]) -> None:
        self.joint_names = tuple(joint_names)
        self._wanted = set(self.joint_names)
        self._latest: dict[str, tuple[float, float]] = {}

    def update(self, names: Sequence[str], positions: Sequence[float], stamp_s: float) -> str | None:
        """Take one JointState; returns why it was rejected (nothing is taken then), else None.

        A message without positions (a velocity- or effort-only publisher) carries nothing to take.
        """
        if len(positions) == 0:
            return None
        if len(names) != len(positions):
            return f"joint state has {len(names)} names but {len(positions)} positions"
        values = {n: float(p) for n, p in zip(names, positions) if n in self._wanted}
        bad = [n for n, v in values.items() if not math.isfinite(v)]
        if bad:
            return f"joint state has NaN/inf positions for {', '.join(bad)}"
        for name, value in values.items():
            self._latest[name] = (value, stamp_s)
        return None

    def positions(self, now_s: float, max_age_s: float) -> tuple[np.ndarray | None, Reason | None, str]:
        """``(positions (J,), None, "")`` when every joint is known and fresh, else ``(None, reason, detail)``."""
        missing = [n for n in self.joint_names if n not in self._latest]
        if missing:
            return None, Reason.NO_JOINT_STATE, f"no position yet for {', '.join(missing)}"
        age = now_s - min(self._latest[n][1] for n in self.joint_names)
        if age > max_age_s:
            return None, Reason.STALE_JOINT_STATE, f"joint positions are {age:.3f} s old (max {max_age_s} s)"
        return np.array([self._latest[n][0] for n in self.joint_names], dtype=np.float64), None, ""
