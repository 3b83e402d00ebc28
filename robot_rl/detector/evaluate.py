"""Scoring a detector on a buffer's labelled episodes: one verdict per episode from its final frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from robot_rl.buffer import RolloutBuffer
from robot_rl.detector.calibration import expected_calibration_error
from robot_rl.detector.data import load_episodes
from robot_rl.detector.model import SuccessDetector
from robot_rl.detector.train import episode_logits


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def verdict_metrics(p: np.ndarray, labels: np.ndarray, abstain: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """accuracy / precision / recall of the forced verdict (p >= 0.5) over every episode; coverage (share
    not abstained), accuracy_covered, precision_covered, recall_covered on the rest; top-label ECE."""
    y, pred, cov = labels.astype(bool), p >= 0.5, ~abstain
    tp, fp, fn = np.sum(pred & y), np.sum(pred & ~y), np.sum(~pred & y)
    tpc, fpc, fnc = np.sum(pred & y & cov), np.sum(pred & ~y & cov), np.sum(~pred & y & cov)
    return {
        "episodes": int(len(y)), "positives": int(y.sum()),
        "accuracy": _ratio(np.sum(pred == y), len(y)), "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
        "coverage": _ratio(cov.sum(), len(y)), "accuracy_covered": _ratio(np.sum((pred == y) & cov), cov.sum()),
        "precision_covered": _ratio(tpc, tpc + fpc), "recall_covered": _ratio(tpc, tpc + fnc),
        "ece": expected_calibration_error(p, y, bins),
    }


def evaluate_detector(detector: SuccessDetector, buffers: Sequence[str | Path]) -> dict[str, Any]:
    """:func:`verdict_metrics` over the labelled episodes of ``buffers``, plus per-task rows and the
    detector's temperature and threshold. Refuses buffers whose cameras differ from the detector's."""
    for b in buffers:
        detector.check_spec(RolloutBuffer.open(b).spec, what=f"buffer {b}")
    _, episodes = load_episodes(buffers, detector.cameras, detector.spec)
    labels = np.array([e.label for e in episodes])
    v = detector.verdict(episode_logits(detector, episodes))
    out = verdict_metrics(v["p_success"], labels, v["abstain"], detector.config.calibration.ece_bins)
    tasks = np.array([e.task for e in episodes])
    out["per_task"] = {t: verdict_metrics(v["p_success"][tasks == t], labels[tasks == t], v["abstain"][tasks == t],
                                          detector.config.calibration.ece_bins) for t in sorted(set(tasks.tolist()))}
    out["temperature"] = detector.calibration.temperature
    out["threshold"] = detector.calibration.threshold
    out["buffers"] = [str(b) for b in buffers]
    return out
