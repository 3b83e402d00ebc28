"""The panel's live scorer: its verdict equals SuccessDetector.episode_logit on the same final frames,
calibrated; a new episode starts a fresh window; frames of the wrong size or camera are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detector_fixtures import tiny_spec

from robot_rl.detector import DetectorConfig, SuccessDetector
from robot_rl.detector.calibration import Calibration
from robot_rl.detector.live import LiveScorer
from robot_rl.errors import SpecMismatchError


@pytest.fixture(scope="module")
def detector() -> SuccessDetector:
    torch.manual_seed(0)
    cfg = DetectorConfig.model_validate({"model": {"d_model": 16, "hidden": 16, "keypoints": 4},
                                         "data": {"end_frames": 2}})
    return SuccessDetector(tiny_spec(), cfg, Calibration(temperature=0.7, threshold=0.8)).eval()


def _frames(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c.name: rng.integers(0, 255, size=c.shape, dtype=np.uint8) for c in tiny_spec().cameras}


def test_live_verdict_is_the_calibrated_episode_logit_of_the_last_end_frames(detector):
    scorer = LiveScorer(detector)
    seq = [_frames(s) for s in range(3)]
    for f in seq:
        score = scorer.score("ep1", "pick up the red cube", f)
    last = {c: np.stack([f[c] for f in seq[-2:]]) for c in detector.cameras}
    want = detector.calibration.probability(np.array([detector.episode_logit(last, "pick up the red cube")]))[0]
    assert score.p == pytest.approx(want, abs=1e-6) and score.threshold == 0.8 and score.latency_s > 0
    # A new episode does not average with the old one's frames.
    fresh = scorer.score("ep2", "pick up the red cube", seq[0])
    one = {c: seq[0][c][None] for c in detector.cameras}
    want = detector.calibration.probability(np.array([detector.episode_logit(one, "pick up the red cube")]))[0]
    assert fresh.p == pytest.approx(want, abs=1e-6) and fresh.episode_id == "ep2"


def test_live_scorer_refuses_frames_it_was_not_trained_on(detector):
    scorer = LiveScorer(detector)
    frames = _frames(0)
    cam = detector.cameras[0]
    with pytest.raises(SpecMismatchError, match=f"detector camera '{cam}': frame \\(8, 8, 3\\), the detector was "
                                                 "trained on"):
        scorer.score("e", "i", {**frames, cam: np.zeros((8, 8, 3), np.uint8)})
    with pytest.raises(SpecMismatchError, match=f"detector camera '{cam}': no frame"):
        scorer.score("e", "i", {k: v for k, v in frames.items() if k != cam})
