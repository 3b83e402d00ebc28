"""Calibration errors: the operator's to fix, so they derive from :class:`robot_rl.errors.RobotRLError`
and the CLI prints them without a traceback."""

from __future__ import annotations

from robot_rl.errors import RobotRLError


class CalibrationError(RobotRLError):
    """Calibration input is unusable (no images, no board found, too few good views, bad file)."""


class DegenerateSamplesError(CalibrationError):
    """The recorded motion cannot determine the answer (too few samples, rotations about one axis,
    inconsistent robot and board motion). The message says what motion to add."""
