"""Delays recovered from synthetic traces with a known answer; unusable traces give errors, not numbers."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.errors import CalibrationError
from calibration.latency import camera_latency_from_events, estimate_lag, with_latency
from robot_rl.errors import ConfigError
from robot_rl.spec import load_spec


def _command_trace(tau: float, rng: np.random.Generator, T: float = 20.0, dims: int = 1):
    """Random position steps commanded at 100 Hz (held), measured at ~250 Hz with jitter, first-order-free."""
    ct = np.arange(0.0, T, 0.01)
    steps = rng.uniform(-0.05, 0.05, (int(T / 0.4) + 1, dims))
    cmd = np.repeat(steps, 40, axis=0)[: len(ct)]  # (N, D): a new target every 0.4 s
    mt = np.arange(0.0, T, 0.004) + rng.uniform(0.0, 0.001, int(np.ceil(T / 0.004)))
    idx = np.searchsorted(ct, mt - tau, side="right") - 1
    meas = np.where((idx >= 0)[:, None], cmd[np.clip(idx, 0, None)], 0.0) + rng.normal(0, 5e-4, (len(mt), dims))
    return ct, cmd, mt, meas


@pytest.mark.parametrize("tau", [0.0, 0.0437, 0.180])
def test_command_latency_from_held_commands(tau):
    ct, cmd, mt, meas = _command_trace(tau, np.random.default_rng(1), dims=3)
    est = estimate_lag(ct, cmd, mt, meas, max_lag_s=0.5, ref_hold=True)
    assert abs(est.lag_s - tau) < 0.003, est
    assert est.correlation > 0.95


def test_camera_latency_from_motion_cross_correlation():
    # Reference: measured robot position (smooth, 500 Hz). Observed: a marker's pixel x in 30 Hz frames, 72 ms late.
    rng = np.random.default_rng(2)
    t = np.arange(0.0, 15.0, 0.002)
    ref = np.sin(2 * np.pi * 0.7 * t) + 0.5 * np.sin(2 * np.pi * 1.9 * t + 1.0)
    ft = np.arange(0.0, 15.0, 1 / 30) + 0.011
    obs = 320 + 80 * np.interp(ft - 0.072, t, ref) + rng.normal(0, 0.3, len(ft))
    est = estimate_lag(t, ref, ft, obs)
    assert abs(est.lag_s - 0.072) < 0.003, est


def test_camera_latency_from_led_events():
    rng = np.random.default_rng(3)
    events = np.cumsum(rng.uniform(0.3, 0.7, 40))  # LED toggled at irregular times
    latency = 0.065
    ft = np.arange(0.0, events[-1] + 1.0, 1 / 30) + 0.0123
    shown = (np.searchsorted(events, ft - latency, side="right") % 2).astype(float)  # LED state the frame shows
    brightness = 20 + 200 * shown + rng.normal(0, 2, len(ft))
    est = camera_latency_from_events(events, ft, brightness)
    assert est.num_events == 40
    assert abs(est.lag_s - latency) < 0.004, est  # frames are 33 ms apart; interpolation + median recover it


def test_unusable_traces_raise():
    t = np.arange(0.0, 10.0, 0.01)
    with pytest.raises(CalibrationError, match="do not vary"):
        estimate_lag(t, np.zeros_like(t), t, np.zeros_like(t))
    rng = np.random.default_rng(0)
    with pytest.raises(CalibrationError, match="no delay in .* aligns the signals"):
        estimate_lag(t, rng.normal(size=len(t)), t, rng.normal(size=len(t)))
    with pytest.raises(CalibrationError, match="strictly increasing"):
        estimate_lag(t[::-1], t, t, t)
    with pytest.raises(CalibrationError, match="record at least"):
        estimate_lag(t[:100], t[:100], t[:100], t[:100])
    with pytest.raises(CalibrationError, match="never changes"):
        camera_latency_from_events([1.0, 2.0, 3.0], t, np.ones_like(t))


def test_with_latency_updates_and_validates_the_spec():
    spec = load_spec("tabletop")
    new = with_latency(spec, camera_s=0.0651, command_s=None)
    assert new.latency.camera_s == pytest.approx(0.0651) and new.latency.command_s == spec.latency.command_s
    spec.check_compatible(new)  # latency does not change what a policy consumes
    with pytest.raises(ConfigError, match="latency.camera_s"):
        with_latency(spec, camera_s=-0.01)
