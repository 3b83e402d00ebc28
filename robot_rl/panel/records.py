"""What the panel's state machine keeps and returns: episodes as the panel sees them, labels, outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from robot_rl.wire.episode_event import EpisodeEvent
from robot_rl.wire.hw_schedule import HwRequest

USABLE = ("success", "failure")  # end events that give the buffer a usable reward


@dataclass
class Episode:
    """An episode as the panel sees it; ``own`` = started by this panel (the time limit applies)."""

    episode_id: str
    context_id: str
    group_id: str
    instruction: str
    started_at: float
    own: bool
    operator: str = ""
    rollout: int = 0          # k (1-based); 0 = unknown (started elsewhere)
    group_size: int = 0       # K
    context_index: int = 0    # c (1-based)
    contexts: int = 0         # C
    ack: str = "waiting"      # policy_node's answer to the start: waiting / recording / acting / no_answer
    ack_reason: str = ""      # why it is not recording (acting, no_answer)
    ack_due: float = float("inf")  # when waiting turns into no_answer
    start_event: EpisodeEvent | None = None  # this panel's start, published again until policy_node answers
    resend_at: float = float("inf")          # when the unanswered start goes out again

    @property
    def recording(self) -> bool:
        """policy_node confirmed it records this episode: only then can a label reach the buffer."""
        return self.ack == "recording"


@dataclass
class Label:
    """How an episode ended (or will end, while ``pending_until`` is set)."""

    episode: Episode
    label: str                # success / failure / abort / estop
    operator: str
    stamp: float
    timeout: bool = False
    source: str = "operator"  # label_source of the end event
    detector_p: float | None = None  # the detector's probability when labelled (None: no detector ran)
    pending_until: float | None = None
    note: str = ""


@dataclass
class Outputs:
    """What the node must publish after a call, in order: episode events, hw requests, e-stop."""

    events: list[EpisodeEvent] = field(default_factory=list)
    requests: list[HwRequest] = field(default_factory=list)
    estop: bool = False

    def __bool__(self) -> bool:
        return bool(self.events or self.requests or self.estop)

    def add(self, other: Outputs) -> Outputs:
        self.events += other.events
        self.requests += other.requests
        self.estop = self.estop or other.estop
        return self
