"""Known answers for the detector's calibration: ECE, temperature scaling and the abstain threshold."""

import math

import numpy as np
import pytest

from robot_rl.detector.calibration import calibrate, choose_threshold, expected_calibration_error, fit_temperature, sigmoid


def test_ece_known_answer():
    # confidences 0.9 (one right, one wrong: |0.5 - 0.9|) and 0.6 (both right: |1 - 0.6|), half the examples each
    assert expected_calibration_error(np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 0, 1, 1])) == pytest.approx(0.4)
    # p = 0.1 predicts failure with confidence 0.9: four of five right -> |0.8 - 0.9| = 0.1
    assert expected_calibration_error(np.full(5, 0.1), np.array([0, 0, 0, 0, 1])) == pytest.approx(0.1)
    # perfectly calibrated bins give 0
    assert expected_calibration_error(np.full(4, 0.75), np.array([1, 1, 1, 0])) == pytest.approx(0.0)


def test_temperature_known_answer():
    # logits +-2, right 3 times in 4 at each: the NLL optimum has sigmoid(2 / T) = 3/4, so T = 2 / ln 3
    z = np.array([2.0, 2, 2, 2, -2, -2, -2, -2])
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    assert fit_temperature(z, y) == pytest.approx(2.0 / math.log(3.0), rel=1e-5)
    # overconfident logits from a model whose true logits are z / 3 are scaled back by T ~ 3
    rng = np.random.default_rng(0)
    zt = rng.normal(0, 3, 20000)
    yt = (rng.random(20000) < sigmoid(zt)).astype(int)
    assert fit_temperature(3.0 * zt, yt) == pytest.approx(3.0, rel=0.05)
    # and scaling brings the ECE down
    cal = calibrate(3.0 * zt, yt, 0.9)
    assert cal.fit["ece_before"] > 0.05 and cal.fit["ece"] < 0.02


def test_threshold_is_the_widest_coverage_at_the_target():
    p = np.array([0.99, 0.97, 0.95, 0.9, 0.8, 0.7, 0.4, 0.02])  # confidences 0.99 .. 0.6, 0.98
    y = np.array([1, 1, 1, 0, 1, 0, 1, 0])  # 0.9 and 0.7 are wrong (0.4 predicts failure: wrong too)
    # covering {0.99, 0.98, 0.97, 0.95} is all right; adding 0.9 (wrong) drops to 4/5 = 0.8
    assert choose_threshold(p, y, 1.0) == pytest.approx(0.95)
    # at 0.8 the covered {0.99 .. 0.8} are 5 right of 6 (0.83); at 0.9 only 4 of 5 (0.8 < 0.83 wanted)
    assert choose_threshold(p, y, 0.8) == pytest.approx(0.8)
    assert choose_threshold(p, y, 0.83) == pytest.approx(0.8)
    assert choose_threshold(p, y, 0.84) == pytest.approx(0.95)
    # a target nothing reaches abstains on everything
    assert choose_threshold(np.array([0.9, 0.1]), np.array([0, 1]), 0.97) > 1.0
