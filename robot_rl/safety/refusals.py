"""Why the safety layer refused or changed something, how often, and when to say so again.

Every refusal has a :class:`Reason`; :class:`RefusalLog` counts them (the counts go to
``/diagnostics``) and decides when a reason may be logged again, so a stream of bad messages
produces one log line per reason per interval instead of a flood.
"""

from __future__ import annotations

import enum
from collections import Counter


class Reason(str, enum.Enum):
    """Refusal and modification reasons; the value is the key used in diagnostics."""

    # Messages rejected on arrival.
    BAD_LAYOUT = "bad_layout"                        # chunk layout/size does not match [H, A]
    NONFINITE = "nonfinite"                          # NaN or inf in a chunk or pose
    UNSTAMPED_CHUNK = "unstamped_chunk"              # no matching stamp arrived in time
    STALE_OBSERVATION = "stale_observation"          # the chunk's observation is older than allowed
    OUT_OF_ORDER = "out_of_order"                    # chunk older than the one being executed
    BAD_POSE = "bad_pose"                            # wrong frame or degenerate quaternion
    BAD_JOINT_STATE = "bad_joint_state"              # names/positions differ in length, or NaN/inf positions
    # Commands not sent.
    ESTOP = "estop"                                  # e-stop latched
    HEARTBEAT_LOST = "heartbeat_lost"                # a required heartbeat went quiet
    NO_CHUNK = "no_chunk"                            # nothing to execute yet
    CHUNK_STALE_HOLD = "chunk_stale_hold"            # no fresh chunk: holding position
    CHUNK_TIMEOUT_STOP = "chunk_timeout_stop"        # no fresh chunk for long: stopped
    NO_ACTION_DUE = "no_action_due"                  # chunk ran out / next action not due: holding
    LATE_ACTION = "late_action"                      # action's target time passed before it ran
    STALE_EE_POSE = "stale_ee_pose"                  # end-effector pose too old to command from
    NO_EE_POSE = "no_ee_pose"                        # no end-effector pose received yet
    OUTSIDE_WORKSPACE = "outside_workspace"          # robot outside the box: cannot step back safely
    NO_JOINT_STATE = "no_joint_state"                # a commanded joint has no position yet
    STALE_JOINT_STATE = "stale_joint_state"          # joint positions too old to command from
    OUTSIDE_JOINT_LIMITS = "outside_joint_limits"    # a joint outside its position limits: cannot step back safely
    # Modifications (the command went out, changed).
    CLAMP_TRANSLATION = "clamp_translation"
    CLAMP_ROTATION = "clamp_rotation"
    CLAMP_WORKSPACE = "clamp_workspace"
    CLAMP_SPEC_LIMITS = "clamp_spec_limits"
    CLAMP_JOINT_STEP = "clamp_joint_step"            # a joint's step/velocity limit scaled the step down
    CLAMP_JOINT_LIMITS = "clamp_joint_limits"        # a trajectory point clipped into the joint position limits


class RefusalLog:
    """Counts reasons and rate-limits their log lines: at most one per reason per ``interval_s``."""

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self.counts: Counter[str] = Counter()
        self._last_logged: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def record(self, reason: Reason | str, now_s: float, n: int = 1) -> str | None:
        """Count ``reason``; return a log suffix when it should be logged now, else None.

        The suffix says how many occurrences were suppressed since the last line, e.g.
        ``" (12 more since last report)"``; it is ``""`` the first time.
        """
        key = reason.value if isinstance(reason, Reason) else str(reason)
        self.counts[key] += n
        last = self._last_logged.get(key)
        if last is not None and now_s - last < self.interval_s:
            self._suppressed[key] += n
            return None
        self._last_logged[key] = now_s
        hidden = self._suppressed.pop(key, 0)
        return f" ({hidden} more since last report)" if hidden else ""
