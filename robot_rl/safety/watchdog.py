"""The executor's mode from its inputs' ages: e-stop latch, heartbeats, stale chunks.

Modes, in priority order (the first that applies wins):

- ``ESTOP``: an e-stop was received; latched until :meth:`Watchdog.clear_estop` succeeds, which
  it refuses while e-stop messages keep asserting (one within ``estop_clear_guard_s``).
  ``estop: false`` messages never clear the latch.
- ``STOP`` (heartbeat_lost): a required heartbeat was never heard or is older than
  ``heartbeat_timeout_s``. Nothing is commanded.
- ``IDLE`` (no_chunk): no chunk received yet. Nothing is commanded.
- ``STOP`` (chunk_timeout_stop): the newest chunk arrived more than ``chunk_stop_s`` ago.
- ``HOLD`` (chunk_stale_hold): the newest chunk arrived more than ``chunk_hold_s`` ago: keep the
  pose held at the moment of entering HOLD (pose commands), command zero velocity (twist), or hold
  the joints where they were (joint trajectories).
- ``RUN``: execute the action due now.

All times are seconds on one clock chosen by the caller (the node uses ROS time).
"""

from __future__ import annotations

import enum

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig
from robot_rl.safety.refusals import Reason


class Mode(str, enum.Enum):
    RUN = "run"
    HOLD = "hold"
    STOP = "stop"
    IDLE = "idle"
    ESTOP = "estop"


class WatchdogConfig(StrictConfig):
    """Ages after which inputs count as stale [s]."""

    chunk_hold_s: float = Field(default=0.5, gt=0.0, le=60.0,
                                description="no new chunk for this long: hold position")
    chunk_stop_s: float = Field(default=2.0, gt=0.0, le=600.0,
                                description="no new chunk for this long: stop commanding")
    heartbeat_timeout_s: float = Field(default=1.0, gt=0.0, le=60.0,
                                       description="a required heartbeat older than this stops the robot")
    estop_clear_guard_s: float = Field(default=0.5, ge=0.0, le=60.0,
                                       description="clearing is refused while e-stop messages arrived this recently")

    @model_validator(mode="after")
    def _hold_before_stop(self) -> WatchdogConfig:
        if self.chunk_hold_s >= self.chunk_stop_s:
            raise ValueError(f"chunk_hold_s ({self.chunk_hold_s}) must be below chunk_stop_s ({self.chunk_stop_s})")
        return self


class Watchdog:
    """Tracks the e-stop latch, heartbeats and chunk arrivals; :meth:`mode` says what to do now."""

    def __init__(self, config: WatchdogConfig, heartbeats: list[str] | tuple[str, ...] = ()) -> None:
        self.config = config
        self.estopped = False
        self._last_estop_assert: float | None = None
        self._heartbeats: dict[str, float | None] = {name: None for name in heartbeats}
        self._last_chunk: float | None = None

    # ---- inputs ----------------------------------------------------------------------------

    def estop(self, asserted: bool, now_s: float) -> None:
        """An e-stop message: ``True`` latches the e-stop; ``False`` changes nothing."""
        if asserted:
            self.estopped = True
            self._last_estop_assert = now_s

    def clear_estop(self, now_s: float) -> tuple[bool, str]:
        """Try to clear the latch; returns ``(cleared, message)``."""
        if not self.estopped:
            return True, "e-stop was not latched"
        last = self._last_estop_assert
        if last is not None and now_s - last < self.config.estop_clear_guard_s:
            return False, f"e-stop still asserted ({now_s - last:.2f} s ago); release it first"
        self.estopped = False
        # A chunk from before the e-stop must not resume motion: require a fresh one.
        self._last_chunk = None
        return True, "e-stop cleared; waiting for a fresh chunk"

    def heartbeat(self, name: str, now_s: float) -> None:
        if name in self._heartbeats:
            self._heartbeats[name] = now_s

    def chunk_received(self, now_s: float) -> None:
        self._last_chunk = now_s

    # ---- decision --------------------------------------------------------------------------

    def lost_heartbeats(self, now_s: float) -> list[str]:
        timeout = self.config.heartbeat_timeout_s
        return [n for n, t in self._heartbeats.items() if t is None or now_s - t > timeout]

    def mode(self, now_s: float) -> tuple[Mode, Reason | None]:
        """The mode for a tick at ``now_s`` and the reason when it is not RUN."""
        if self.estopped:
            return Mode.ESTOP, Reason.ESTOP
        if self.lost_heartbeats(now_s):
            return Mode.STOP, Reason.HEARTBEAT_LOST
        if self._last_chunk is None:
            return Mode.IDLE, Reason.NO_CHUNK
        age = now_s - self._last_chunk
        if age > self.config.chunk_stop_s:
            return Mode.STOP, Reason.CHUNK_TIMEOUT_STOP
        if age > self.config.chunk_hold_s:
            return Mode.HOLD, Reason.CHUNK_STALE_HOLD
        return Mode.RUN, None
