"""Exception types raised by robot_rl.

Every user mistake surfaces as one of these, with a message that says what is wrong and what
is allowed, so entry points can print it without a traceback.
"""

from __future__ import annotations


class RobotRLError(Exception):
    """Base class for errors that are the user's to fix (bad config, bad input, bad store)."""


class ConfigError(RobotRLError, ValueError):
    """A config or spec failed validation. The message names the field, the value and what is allowed."""


class SpecMismatchError(RobotRLError):
    """Two embodiment specs that must agree do not. The message lists every difference."""


class BufferError(RobotRLError):
    """The rollout buffer refused an operation (bad input, wrong version, inconsistent store)."""


class AlgorithmError(RobotRLError, ValueError):
    """An RL algorithm got input it cannot use (wrong shapes, too small a group, bad granularity)."""


class ScheduleError(RobotRLError):
    """The rollout schedule got input it cannot use or was driven out of order (a batch popped before it is ready)."""
