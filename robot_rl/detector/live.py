"""Live scoring of the running episode for the operator panel (no ROS: the label node feeds it).

The panel's node hands over the latest camera frames; :class:`LiveScorer` keeps the last
``data.end_frames`` frame sets of the current episode (the frames the detector's positives were drawn
from) and scores the episode as :meth:`SuccessDetector.episode_logit` would at that moment: the mean
logit over those frames, calibrated. A new episode id starts a fresh window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from robot_rl.detector.model import SuccessDetector
from robot_rl.errors import SpecMismatchError


@dataclass(frozen=True)
class LiveScore:
    """One live verdict: calibrated probability of success, the threshold, and how long scoring took."""

    episode_id: str
    p: float
    threshold: float
    latency_s: float


class LiveScorer:
    """Scores one episode at a time from frame sets ``{camera: (H, W, 3) uint8}``."""

    def __init__(self, detector: SuccessDetector) -> None:
        self.detector = detector
        self._episode = ""
        self._window: deque[np.ndarray] = deque(maxlen=detector.config.data.end_frames)  # logits of recent frames

    @property
    def cameras(self) -> list[str]:
        return list(self.detector.cameras)

    def check_frames(self, frames: Mapping[str, np.ndarray]) -> None:
        """Refuse frames of the wrong cameras or size (SpecMismatchError naming camera and shapes)."""
        for cam in self.detector.cameras:
            want = tuple(self.detector.spec.camera(cam).shape)
            if cam not in frames:
                raise SpecMismatchError(f"detector camera '{cam}': no frame (the detector was trained on cameras "
                                        f"{', '.join(self.detector.cameras)})")
            got = tuple(frames[cam].shape)
            if got != want:
                raise SpecMismatchError(f"detector camera '{cam}': frame {got}, the detector was trained on {want}")

    def score(self, episode_id: str, instruction: str, frames: Mapping[str, np.ndarray]) -> LiveScore:
        """Add one frame set of ``episode_id`` and return the episode's current calibrated verdict."""
        self.check_frames(frames)
        if episode_id != self._episode:
            self._episode = episode_id
            self._window.clear()
        t0 = time.perf_counter()
        z = self.detector.logits({c: frames[c][None] for c in self.detector.cameras}, [instruction])
        self._window.append(z[0])
        p = float(self.detector.calibration.probability(np.array([np.mean(self._window)]))[0])
        return LiveScore(episode_id, p, float(self.detector.calibration.threshold), time.perf_counter() - t0)
