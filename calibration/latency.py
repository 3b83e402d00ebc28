"""Delays between the world and the data, from recorded traces.

- **Command-to-motion** (``command_s``): the robot is sent a varying command (e.g. a position
  target, a random-step or chirp pattern) and its measured position is recorded with its own
  timestamps. The delay is the shift that best aligns the measured motion with the command,
  found by normalised cross-correlation on a fine common time grid and refined to sub-sample
  precision (parabola through the peak).
- **Camera** (``camera_s``): how much later a frame's timestamp is than the moment it shows.
  Either (a) events at known times (an LED or screen toggled by the recording script) and a
  per-frame brightness: each event's first threshold crossing in the frames, interpolated between
  the two frames around it; or (b) a reference signal (e.g. the robot's measured position) and the
  same motion tracked in the images (e.g. a marker's pixel coordinate): cross-correlation as above.

Frames sample a step at the frame rate; linear interpolation between frames is unbiased when
events fall at random phases relative to the frames, so record 10+ events at irregular times.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibration.errors import CalibrationError
from robot_rl.spec import EmbodimentSpec


@dataclass(frozen=True)
class LagEstimate:
    """A delay [s] with its quality: the peak normalised correlation (1 = the shifted signals match)."""

    lag_s: float
    correlation: float
    num_events: int = 0  # events used (event method only)
    spread_s: float = 0.0  # std of per-event delays (event method only)


def _as_2d(values: np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    v = v.reshape(len(v), -1)  # (N, D)
    if not np.isfinite(v).all():
        raise CalibrationError(f"{name}: has NaN or infinite values")
    return v


def _check_times(t: np.ndarray, name: str) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    if len(t) < 3:
        raise CalibrationError(f"{name}: needs at least 3 samples, got {len(t)}")
    if not np.isfinite(t).all() or np.any(np.diff(t) <= 0):
        raise CalibrationError(f"{name}: timestamps must be finite and strictly increasing")
    return t


def _hold(grid: np.ndarray, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Zero-order hold: a command is in force from its timestamp until the next one.
    return v[np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(v) - 1)]


def _sliding_correlation(r: np.ndarray, o: np.ndarray, max_k: int) -> np.ndarray:
    """Pearson correlation of ``r`` (n,) with ``o[k:k + n]`` for ``k = 0..max_k``, via FFT and running sums."""
    n = len(r)
    rz = (r - r.mean()) / r.std()
    size = 1 << int(np.ceil(np.log2(len(o) + n)))
    dots = np.fft.irfft(np.conj(np.fft.rfft(rz, size)) * np.fft.rfft(o, size), size)[: max_k + 1]  # sum_i rz[i] o[i+k]
    c1, c2 = np.concatenate([[0.0], np.cumsum(o)]), np.concatenate([[0.0], np.cumsum(o * o)])
    k = np.arange(max_k + 1)
    mean = (c1[k + n] - c1[k]) / n
    var = np.maximum((c2[k + n] - c2[k]) / n - mean**2, 1e-300)
    return dots / (n * np.sqrt(var))  # rz sums to zero, so the window mean drops out of the numerator


def estimate_lag(
    ref_t: np.ndarray,
    ref: np.ndarray,
    obs_t: np.ndarray,
    obs: np.ndarray,
    max_lag_s: float = 0.5,
    dt: float = 0.001,
    min_correlation: float = 0.5,
    ref_hold: bool = False,
) -> LagEstimate:
    """Delay ``tau >= 0`` such that ``obs(t) ~ a * ref(t - tau) + b`` (per channel, channels pooled).

    ``ref`` / ``obs``: ``(N,)`` or ``(N, D)`` values at times ``ref_t`` / ``obs_t`` [s], same clock.
    Both are resampled (linear interpolation) on a ``dt`` grid over their common span; only lags in
    ``[0, max_lag_s]`` are searched. ``ref_hold``: the reference is a command held until the next one
    (zero-order hold) rather than samples of a continuous signal. Raises :class:`CalibrationError` when
    the signals do not vary or
    do not match at any lag (peak correlation below ``min_correlation``).
    """
    ref_t, obs_t = _check_times(ref_t, "reference times"), _check_times(obs_t, "observed times")
    ref, obs = _as_2d(ref, "reference"), _as_2d(obs, "observed")
    if ref.shape[1] != obs.shape[1] or len(ref) != len(ref_t) or len(obs) != len(obs_t):
        raise CalibrationError(
            f"reference {ref.shape} and observed {obs.shape} must have one row per timestamp "
            "and the same number of channels"
        )
    start, stop = max(ref_t[0], obs_t[0]), min(ref_t[-1], obs_t[-1])
    if stop - start < 4 * max_lag_s:
        raise CalibrationError(
            f"traces overlap for {max(stop - start, 0):.2f} s; record at least {4 * max_lag_s:.1f} s "
            f"(4 x the largest lag searched, {max_lag_s} s)"
        )
    grid = np.arange(start, stop, dt)
    max_k = round(max_lag_s / dt)
    n = len(grid) - max_k
    score = np.zeros(max_k + 1)
    used = 0
    for ch in range(ref.shape[1]):
        r = _hold(grid, ref_t, ref[:, ch]) if ref_hold else np.interp(grid, ref_t, ref[:, ch])
        o = np.interp(grid, obs_t, obs[:, ch])
        if np.std(r) < 1e-12 or np.std(o) < 1e-12:
            continue  # a channel that does not move says nothing about the delay
        score += _sliding_correlation(r[:n], o, max_k)
        used += 1
    if used == 0:
        raise CalibrationError("the signals do not vary: command a motion (steps or a sweep) while recording")
    score /= used
    k = int(np.argmax(score))
    if score[k] < min_correlation:
        raise CalibrationError(
            f"no delay in [0, {max_lag_s}] s aligns the signals (best correlation {score[k]:.2f} < "
            f"{min_correlation}); check that both traces record the same motion on one clock"
        )
    frac = 0.0
    if 0 < k < max_k:  # parabola through the peak and its neighbours: sub-grid precision
        a, b, c = score[k - 1], score[k], score[k + 1]
        denom = a - 2 * b + c
        frac = 0.5 * (a - c) / denom if denom < 0 else 0.0
    elif k == max_k:
        raise CalibrationError(f"the best alignment is at the search limit {max_lag_s} s; raise --max-lag")
    return LagEstimate(lag_s=float((k + frac) * dt), correlation=float(score[k]))


def camera_latency_from_events(
    event_t: np.ndarray, frame_t: np.ndarray, frame_signal: np.ndarray, max_lag_s: float = 0.5
) -> LagEstimate:
    """Camera delay from events at known times (e.g. an LED switched on/off) seen in frames.

    ``frame_signal``: one value per frame (e.g. mean brightness of the LED region). Each event
    toggles the signal between a low and a high level; its appearance is where the frame signal
    crosses the mid level, interpolated between the two frames around the crossing. The delay is
    the median over events of (appearance - event time).
    """
    event_t = np.asarray(event_t, dtype=np.float64).reshape(-1)
    frame_t = _check_times(frame_t, "frame times")
    sig = _as_2d(frame_signal, "frame signal")[:, 0]
    if len(sig) != len(frame_t):
        raise CalibrationError(f"{len(sig)} frame values for {len(frame_t)} frame times")
    lo, hi = np.percentile(sig, 5), np.percentile(sig, 95)
    if hi - lo < 1e-9:
        raise CalibrationError("frame signal never changes: no event is visible in the frames")
    mid = 0.5 * (lo + hi)
    above = sig > mid
    delays = []
    for te in event_t:
        i0 = np.searchsorted(frame_t, te)  # first frame stamped at or after the event
        i_end = np.searchsorted(frame_t, te + max_lag_s, side="right")
        if i0 == 0 or i0 >= len(frame_t):
            continue
        state = above[i0 - 1]  # the level before the event
        flips = np.nonzero(above[i0:i_end] != state)[0]
        if len(flips) == 0:
            continue
        j = i0 + flips[0]  # first frame showing the new level; j - 1 still shows the old one
        s0, s1 = sig[j - 1], sig[j]
        frac = (mid - s0) / (s1 - s0)
        delays.append(frame_t[j - 1] + frac * (frame_t[j] - frame_t[j - 1]) - te)
    if len(delays) < 3:
        raise CalibrationError(
            f"only {len(delays)} of {len(event_t)} events were seen in the frames within "
            f"{max_lag_s} s; need at least 3 (record more events, check the region of interest)"
        )
    delays = np.asarray(delays)
    return LagEstimate(
        lag_s=float(np.median(delays)), correlation=1.0, num_events=len(delays), spread_s=float(np.std(delays))
    )


def load_trace(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` trace file, with a clear error when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"{path}: no such trace file")
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise CalibrationError(f"{path}: not an .npz trace: {err}") from None


def _need(trace: dict[str, np.ndarray], keys: tuple[str, ...], path: str | Path) -> None:
    missing = [k for k in keys if k not in trace]
    if missing:
        raise CalibrationError(f"{path}: missing arrays {missing}; has {sorted(trace)}")


def command_latency_from_file(path: str | Path, max_lag_s: float = 0.5) -> LagEstimate:
    """``command_s`` from an npz with ``command_t, command, measured_t, measured``."""
    tr = load_trace(path)
    _need(tr, ("command_t", "command", "measured_t", "measured"), path)
    return estimate_lag(tr["command_t"], tr["command"], tr["measured_t"], tr["measured"], max_lag_s, ref_hold=True)


def camera_latency_from_file(path: str | Path, max_lag_s: float = 0.5) -> LagEstimate:
    """``camera_s`` from an npz with ``frame_t, frame_signal`` and either ``event_t`` (events) or
    ``reference_t, reference`` (the same motion measured without the camera)."""
    tr = load_trace(path)
    _need(tr, ("frame_t", "frame_signal"), path)
    if "event_t" in tr:
        return camera_latency_from_events(tr["event_t"], tr["frame_t"], tr["frame_signal"], max_lag_s)
    _need(tr, ("reference_t", "reference"), path)
    return estimate_lag(tr["reference_t"], tr["reference"], tr["frame_t"], tr["frame_signal"], max_lag_s)


def with_latency(spec: EmbodimentSpec, camera_s: float | None = None, command_s: float | None = None) -> EmbodimentSpec:
    """``spec`` with measured latencies filled in (``None`` keeps the current value); validated."""
    data = spec.to_dict()
    if camera_s is not None:
        data["latency"]["camera_s"] = round(float(camera_s), 6)
    if command_s is not None:
        data["latency"]["command_s"] = round(float(command_s), 6)
    # Validation rejects a negative delay (clocks out of sync) with the field name.
    return EmbodimentSpec.from_dict(data, f"spec {spec.name} with measured latency")
