"""Calibration of the detector's episode verdicts: temperature scaling, ECE and the abstain band.

Pure numpy, on episode-level logits (the verdict is a logit ``z``; ``p = sigmoid(z / T)`` is the
probability of success). Confidence is the probability of the predicted class, ``max(p, 1 - p)``;
the detector abstains when it is below ``threshold``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))  # overflow-free


def confidence(p: np.ndarray) -> np.ndarray:
    """Probability of the predicted class."""
    p = np.asarray(p, dtype=np.float64)
    return np.maximum(p, 1.0 - p)


def expected_calibration_error(p: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Top-label ECE (Guo et al. 2017): ``sum_b |B_b|/n * |accuracy(B_b) - mean confidence(B_b)|`` over
    ``bins`` equal-width confidence bins on [0, 1] (for a binary verdict only the upper half fills).

    :param p: probability of success per example; :param labels: 0/1 per example.
    """
    p, y = np.asarray(p, dtype=np.float64), np.asarray(labels).astype(bool)
    if len(p) == 0:
        return 0.0
    conf, correct = confidence(p), (p >= 0.5) == y
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    ece = 0.0
    for b in np.unique(idx):
        m = idx == b
        ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def nll(z: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean binary cross-entropy of ``sigmoid(z / T)`` against 0/1 labels."""
    s = np.asarray(z, dtype=np.float64) / temperature
    y = np.asarray(labels, dtype=np.float64)
    # log(1 + e^s) - y s, written stably
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def fit_temperature(z: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 50.0, iters: int = 100) -> float:
    """The temperature minimising :func:`nll` on held-out logits (golden-section search on log T).

    NLL is convex in 1/T, so it is unimodal in log T and the search finds the optimum.
    """
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(z, labels, math.exp(c)), nll(z, labels, math.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(z, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(z, labels, math.exp(d))
    return float(math.exp((a + b) / 2.0))


def choose_threshold(p: np.ndarray, labels: np.ndarray, target_accuracy: float) -> float:
    """The lowest confidence threshold whose covered examples (confidence >= threshold) reach
    ``target_accuracy``: the widest coverage at that accuracy. Returns a value above 1 (abstain on
    everything) when no threshold reaches it.
    """
    conf = confidence(p)
    correct = (np.asarray(p) >= 0.5) == np.asarray(labels).astype(bool)
    for t in np.unique(np.concatenate([[0.5], conf])):  # ascending: coverage shrinks as t grows
        covered = conf >= t
        if covered.any() and correct[covered].mean() >= target_accuracy:
            return float(t)
    return 1.0 + 1e-9


@dataclass
class Calibration:
    """What calibration fitted: ``p = sigmoid(logit / temperature)``; abstain when confidence < threshold.

    ``fit`` holds the calibration split's figures (episodes, coverage, accuracy_covered, ece before/after).
    """

    temperature: float = 1.0
    threshold: float = 0.5
    target_accuracy: float = 0.97
    fit: dict[str, Any] = field(default_factory=dict)

    def probability(self, z: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(z, dtype=np.float64) / self.temperature)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(float(data["temperature"]), float(data["threshold"]), float(data["target_accuracy"]),
                   dict(data.get("fit", {})))


def calibrate(z: np.ndarray, labels: np.ndarray, target_accuracy: float, bins: int = 10) -> Calibration:
    """Fit the temperature, then the abstain threshold, on the calibration split's episode logits."""
    y = np.asarray(labels)
    t = fit_temperature(z, y)
    p = sigmoid(np.asarray(z) / t)
    thr = choose_threshold(p, y, target_accuracy)
    covered = confidence(p) >= thr
    correct = (p >= 0.5) == y.astype(bool)
    fit = {"episodes": int(len(y)), "positives": int(y.sum()), "coverage": float(covered.mean()),
           "accuracy_covered": float(correct[covered].mean()) if covered.any() else None,
           "accuracy": float(correct.mean()),
           "ece_before": expected_calibration_error(sigmoid(z), y, bins), "ece": expected_calibration_error(p, y, bins)}
    return Calibration(t, thr, target_accuracy, fit)
