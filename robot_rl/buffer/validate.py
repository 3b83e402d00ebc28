"""Checks on what a writer is given: every bad input is refused with the field named, before any write."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from robot_rl.buffer.format import LABEL_SOURCES, STATUSES
from robot_rl.errors import BufferError
from robot_rl.spec import EmbodimentSpec


def _numeric(name: str, value: Any, dtype: str, shape: tuple[int, ...], *, finite: bool) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise BufferError(f"{name}: not an array ({err})") from None
    if arr.dtype.kind not in "biuf":
        raise BufferError(f"{name}: dtype {arr.dtype} is not numeric; expected {dtype}")
    if arr.shape != shape:
        raise BufferError(f"{name}: shape {arr.shape}, expected {shape}")
    out = arr.astype(dtype, copy=False)
    if finite and out.dtype.kind == "f" and not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).sum())
        raise BufferError(f"{name}: {bad} value(s) are NaN or inf; only finite values may be recorded")
    return out


def validate_steps(spec: EmbodimentSpec, n: int, images: Mapping[str, Any], proprio: Any, action: Any,
                   log_prob: Any, tokens: Any, raw_action: Any, t_capture: Any, t_decision: Any,
                   executed: Any) -> dict[str, np.ndarray]:
    """Validate ``n`` policy steps (leading axis n) and return them as store dtypes keyed by array name.

    ``tokens`` / ``raw_action`` may be None (then they are not part of the result).
    """
    if not isinstance(images, Mapping):
        raise BufferError(f"images: expected a dict camera -> uint8 image, got {type(images).__name__}")
    if set(images) != set(spec.camera_names):
        raise BufferError(f"images: cameras {sorted(images)} do not match the spec's {sorted(spec.camera_names)}")
    h, a = spec.chunk_shape
    out: dict[str, np.ndarray] = {}
    for cam in spec.cameras:
        img = np.asarray(images[cam.name])
        if img.dtype != np.uint8:
            raise BufferError(f"images/{cam.name}: dtype {img.dtype}, expected uint8")
        if img.shape != (n, *cam.shape):
            raise BufferError(f"images/{cam.name}: shape {img.shape[1:] if n == 1 and img.ndim == 4 else img.shape}, "
                              f"expected {cam.shape}" + ("" if n == 1 else f" per step ({n} steps)"))
        out[f"images/{cam.name}"] = img
    out["proprio"] = _numeric("proprio", proprio, "float32", (n, spec.proprio_dim), finite=True)
    out["action"] = _numeric("action", action, "float32", (n, h, a), finite=True)
    out["log_prob"] = _numeric("log_prob", log_prob, "float32", (n, h, a), finite=True)
    if tokens is not None:
        tok = np.asarray(tokens)
        if tok.dtype.kind not in "iu":
            raise BufferError(f"tokens: dtype {tok.dtype} is not an integer type")
        tok = _numeric("tokens", tok, "int64", (n, h, a), finite=False)
        if tok.min() < 0 or tok.max() > np.iinfo(np.int32).max:
            raise BufferError(f"tokens: values must be bin indices in [0, 2^31); got range [{tok.min()}, {tok.max()}]")
        out["tokens"] = tok.astype(np.int32)
    if raw_action is not None:
        out["raw_action"] = _numeric("raw_action", raw_action, "float32", (n, h, a), finite=True)
    out["t_capture"] = _numeric("t_capture", t_capture, "float64", (n,), finite=True)
    out["t_decision"] = _numeric("t_decision", t_decision, "float64", (n,), finite=True)
    ex = _numeric("executed", executed, "int64", (n,), finite=False)
    if ex.min() < 0 or ex.max() > h:
        raise BufferError(f"executed: {ex.min() if ex.min() < 0 else ex.max()} is outside [0, {h}] (chunk length)")
    out["executed"] = ex.astype(np.int16)
    return out


def validate_episode_meta(*, task: Any, context_id: Any, init_id: Any, instruction: Any, group_id: Any,
                          reward: Any, label_source: Any, policy_version: Any, status: Any, operator: Any,
                          env_steps: Any, t_label: Any = None, temperature: Any = None,
                          detector_p: Any = None) -> dict[str, Any]:
    """Validate the commit arguments; return them as plain Python values (``t_label``, ``temperature``,
    ``detector_p`` None -> NaN)."""
    for name, value in (("task", task), ("context_id", context_id), ("instruction", instruction),
                        ("group_id", group_id), ("operator", operator)):
        if not isinstance(value, str):
            raise BufferError(f"{name}: expected a string, got {value!r}")
    if not task:
        raise BufferError("task: must not be empty")
    for name, value, low in (("init_id", init_id, -1), ("policy_version", policy_version, 0), ("env_steps", env_steps, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise BufferError(f"{name}: expected an integer >= {low}, got {value!r}")
    if isinstance(reward, (bool, np.bool_)):
        reward = int(reward)
    if not isinstance(reward, (int, np.integer)) or reward not in (0, 1):
        raise BufferError(f"reward: got {reward!r}; allowed: 0 or 1 (binary success)")
    if label_source not in LABEL_SOURCES:
        raise BufferError(f"label_source: got {label_source!r}; allowed: {', '.join(LABEL_SOURCES)}")
    if status not in STATUSES:
        raise BufferError(f"status: got {status!r}; allowed: {', '.join(STATUSES)}")
    if t_label is None:
        t_label = float("nan")
    if isinstance(t_label, (bool, np.bool_)) or not isinstance(t_label, (int, float, np.integer, np.floating)) \
            or np.isinf(t_label):
        raise BufferError(f"t_label: got {t_label!r}; expected a time in seconds, or None/NaN for no label")
    if temperature is None:
        temperature = float("nan")
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(temperature, (int, float, np.integer, np.floating)) \
            or not (np.isnan(temperature) or (np.isfinite(temperature) and temperature > 0)):
        raise BufferError(f"temperature: got {temperature!r}; expected the sampling temperature (> 0), or None/NaN "
                          "when no policy sampled the episode (e.g. a demonstration)")
    if detector_p is None:
        detector_p = float("nan")
    if isinstance(detector_p, (bool, np.bool_)) or not isinstance(detector_p, (int, float, np.integer, np.floating)) \
            or not (np.isnan(detector_p) or 0.0 <= detector_p <= 1.0):
        raise BufferError(f"detector_p: got {detector_p!r}; expected the success detector's probability of success "
                          "in [0, 1], or None/NaN when no detector ran")
    if label_source in ("detector", "detector_confirmed") and np.isnan(detector_p):
        raise BufferError(f"detector_p: label_source {label_source!r} needs the detector's probability (got NaN/None)")
    return {
        "task": task, "context_id": context_id, "instruction": instruction, "group_id": group_id,
        "label_source": label_source, "status": status, "operator": operator, "init_id": int(init_id),
        "reward": int(reward), "policy_version": int(policy_version), "env_steps": int(env_steps),
        "t_label": float(t_label), "temperature": float(temperature),
        "detector_p": float(detector_p),
    }
