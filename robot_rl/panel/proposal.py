"""The success detector's proposal for the running episode, as the panel shows and accepts it.

The detector (docs/detector.md) gives a calibrated probability of success ``p`` and an abstain
threshold on the confidence ``max(p, 1 - p)``. The panel turns that into one of three proposals:
``success`` (p >= 0.5, confident), ``failure`` (p < 0.5, confident) or ``unsure`` (confidence below
the threshold: the detector abstains and only the operator can label). Pure: no ROS, no torch.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

ProposalLabel = Literal["success", "failure", "unsure"]


@dataclass(frozen=True)
class Proposal:
    """The detector's verdict on one episode at time ``stamp`` [s]."""

    episode_id: str
    p: float            # calibrated probability of success, in [0, 1]
    threshold: float    # the detector's abstain threshold on confidence
    stamp: float

    @property
    def confidence(self) -> float:
        """``max(p, 1 - p)``: how sure the detector is of its more likely verdict."""
        return max(self.p, 1.0 - self.p)

    @property
    def label(self) -> ProposalLabel:
        """success / failure when confident (confidence >= threshold), else unsure."""
        if self.confidence < self.threshold:
            return "unsure"
        return "success" if self.p >= 0.5 else "failure"

    def to_dict(self) -> dict[str, object]:
        """The snapshot form the page draws (docs/panel.md)."""
        return {"episode_id": self.episode_id, "proposal": self.label, "p": round(self.p, 4),
                "confidence": round(self.confidence, 4), "threshold": self.threshold, "stamp": self.stamp}


def make_proposal(episode_id: str, p: float, threshold: float, stamp: float) -> Proposal:
    """Validate a detector output and wrap it; ValueError names the bad value."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or math.isnan(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"detector p: got {p!r}; expected a probability in [0, 1]")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or math.isnan(threshold) \
            or threshold < 0.5:
        raise ValueError(f"detector threshold: got {threshold!r}; expected a confidence threshold >= 0.5 "
                         "(above 1 = always abstain)")
    return Proposal(episode_id, float(p), float(threshold), float(stamp))


def is_spot_check(episode_id: str, share: float) -> bool:
    """Whether automatic mode still sends ``episode_id``'s confident proposal to the operator.

    A hash of the episode id, uniform in [0, 1), below ``share``: about that share of episodes, the
    same decision on every call and every machine (no hidden random state to replay), and
    independent of the proposal, so spot checks measure the detector where it labels by itself.
    """
    digest = hashlib.sha256(episode_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < share
