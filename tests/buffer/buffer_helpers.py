"""Deterministic episodes for rollout-buffer tests: contents are a function of the episode number.

Used by the tests, the crash-test writer process and the scripts that wrote the fixture stores
(tests/data/make_rollout_buffer_v1.py, _v2.py, _v3.py, _v4.py). Changing these functions breaks the
fixture tests, on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_rl.buffer import LABEL_SOURCES
from robot_rl.spec import EmbodimentSpec

DATA = Path(__file__).resolve().parents[1] / "data"
TINY_SPEC = DATA / "tiny_spec.yaml"


def tiny_spec() -> EmbodimentSpec:
    return EmbodimentSpec.from_yaml(TINY_SPEC)


def episode_length(e: int) -> int:
    return 1 + (e * 5) % 9


def episode_steps(spec: EmbodimentSpec, e: int) -> list[dict]:
    """add_step keyword arguments for every step of episode ``e``."""
    h, a = spec.chunk_shape
    steps = []
    for j in range(episode_length(e)):
        action = ((e + j) * 0.001 + np.arange(h * a, dtype=np.float32).reshape(h, a) * 0.01).astype(np.float32)
        t = e * 100.0 + j * 0.1
        steps.append(dict(
            images={c.name: np.full(c.shape, (e * 31 + j * 7 + k) % 256, np.uint8) for k, c in enumerate(spec.cameras)},
            proprio=(e * 1000 + j + np.arange(spec.proprio_dim) * 0.5).astype(np.float32),
            action=action,
            log_prob=np.full((h, a), -(e + j) * 0.01, np.float32),
            tokens=((e + j + np.arange(h * a)) % 256).reshape(h, a).astype(np.int32) if e % 3 == 1 else None,
            raw_action=action * 2 if e % 3 == 2 else None,
            t_capture=t, t_decision=t + 0.01, executed=(e + j) % (h + 1),
        ))
    return steps


def episode_meta(e: int) -> dict:
    """commit keyword arguments for episode ``e``."""
    source = LABEL_SOURCES[e % 3]
    return dict(task=f"task{e % 2}", context_id=f"task{e % 2}/{e % 3}", init_id=e % 3, instruction=f"do task {e % 2}",
                group_id=f"g{e // 3}", reward=e % 2, label_source=source, policy_version=e // 4,
                status="ok" if e % 5 else "timeout", operator="ann" if source == "operator" else "")


def episode_t_label(e: int) -> float:
    """The label time ``write_episode`` gives episode ``e`` (format version 2): NaN (no label) for every
    third one, else 0.05 s before its last step's decision (a label given while it still ran)."""
    return float("nan") if e % 3 == 1 else e * 100.0 + (episode_length(e) - 1) * 0.1 + 0.01 - 0.05


def episode_temperature(e: int) -> float:
    """The sampling temperature ``write_episode`` gives episode ``e`` (format version 3): NaN (not sampled by a
    policy, like a demonstration) for the ``expert`` episodes, else 0.5 (1 + e % 4)."""
    return float("nan") if e % 3 == 1 else 0.5 * (1 + e % 4)


def episode_detector_p(e: int) -> float:
    """The success detector's probability ``write_episode`` gives episode ``e`` (format version 4): set on the
    ``operator`` episodes (a detector ran while the person labelled), 0.15 (e % 5); NaN on the others."""
    return 0.15 * (e % 5) if e % 3 == 2 else float("nan")


def write_episode(buf, e: int) -> int:
    ep = buf.begin_episode()
    for step in episode_steps(buf.spec, e):
        ep.add_step(**step)
    return ep.commit(**episode_meta(e), t_label=episode_t_label(e), temperature=episode_temperature(e),
                     detector_p=episode_detector_p(e))


def check_episode(buf, i: int, e: int, labelled: bool = True, tempered: bool = True, detected: bool = True) -> None:
    """Assert that stored episode ``i`` holds exactly what ``write_episode(buf, e)`` wrote.

    ``labelled=False``: the episode was written without a label time (format version 1), so its
    ``t_label`` reads NaN. ``tempered=False``: written without a temperature (versions 1 and 2),
    so its ``temperature`` reads NaN. ``detected=False``: written without ``detector_p`` (versions 1-3),
    so it reads NaN.
    """
    spec = buf.spec
    steps = episode_steps(spec, e)
    got = buf.read_episode(i)
    n = len(steps)
    assert len(got["proprio"]) == n
    for c in spec.camera_names:
        np.testing.assert_array_equal(got[f"images/{c}"], np.stack([s["images"][c] for s in steps]))
    for k in ("proprio", "action", "log_prob"):
        np.testing.assert_array_equal(got[k], np.stack([s[k] for s in steps]))
    h, a = spec.chunk_shape
    exp_tok = np.stack([s["tokens"] for s in steps]) if steps[0]["tokens"] is not None else np.full((n, h, a), -1)
    np.testing.assert_array_equal(got["tokens"], exp_tok)
    if steps[0]["raw_action"] is not None:
        np.testing.assert_array_equal(got["raw_action"], np.stack([s["raw_action"] for s in steps]))
    else:
        assert np.isnan(got["raw_action"]).all()
    np.testing.assert_array_equal(got["t_capture"], [s["t_capture"] for s in steps])
    np.testing.assert_array_equal(got["t_decision"], [s["t_decision"] for s in steps])
    np.testing.assert_array_equal(got["executed"], [s["executed"] for s in steps])
    np.testing.assert_array_equal(got["episode"], np.full(n, i))
    row = buf.episodes.take(np.array([i])).to_dicts()[0]
    meta = episode_meta(e)
    assert {k: row[k] for k in meta} == meta
    assert row["step_count"] == n
    assert row["env_steps"] == sum(s["executed"] for s in steps)
    assert row["has_tokens"] == (steps[0]["tokens"] is not None)
    assert row["has_raw_action"] == (steps[0]["raw_action"] is not None)
    assert row["t_start"] == steps[0]["t_capture"] and row["t_end"] == steps[-1]["t_decision"]
    np.testing.assert_array_equal(row["t_label"], episode_t_label(e) if labelled else np.nan)  # NaN == NaN here
    np.testing.assert_array_equal(row["temperature"], episode_temperature(e) if tempered else np.nan)
    np.testing.assert_array_equal(row["detector_p"], episode_detector_p(e) if detected else np.nan)
