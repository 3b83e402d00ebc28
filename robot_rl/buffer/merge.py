"""merge(a, b, out): a new store holding the committed episodes of ``a`` then ``b``."""

from __future__ import annotations

from pathlib import Path

from robot_rl.buffer.format import EPISODE_COLUMNS
from robot_rl.buffer.store import RolloutBuffer
from robot_rl.errors import BufferError

_META = [c for c in EPISODE_COLUMNS if c not in
         ("step_start", "step_count", "t_start", "t_end", "has_tokens", "has_raw_action")]


def copy_episodes(src: RolloutBuffer, dst: RolloutBuffer) -> int:
    """Append every committed episode of ``src`` to ``dst`` (one episode in memory at a time)."""
    for row in src.episodes.to_dicts():
        steps = src.read_episode(row["episode"])
        with dst.begin_episode() as ep:
            ep.add_steps(
                images={c: steps[f"images/{c}"] for c in src.spec.camera_names},
                proprio=steps["proprio"], action=steps["action"], log_prob=steps["log_prob"],
                tokens=steps["tokens"] if row["has_tokens"] else None,
                raw_action=steps["raw_action"] if row["has_raw_action"] else None,
                t_capture=steps["t_capture"], t_decision=steps["t_decision"], executed=steps["executed"],
            )
            ep.commit(**{k: row[k] for k in _META})
    return len(src.episodes)


def merge(a: str | Path, b: str | Path, out: str | Path) -> RolloutBuffer:
    """Write the committed episodes of ``a`` then ``b`` into a new store ``out`` (returned open for reading).

    Refuses stores whose specs differ (the message lists the differences). Episode indices are
    renumbered (``b``'s follow ``a``'s); group ids and label times (``t_label``) are copied as they
    are, so a version-1 source's episodes keep NaN.
    """
    src_a, src_b = RolloutBuffer.open(a), RolloutBuffer.open(b)
    diffs = src_a.spec.diff(src_b.spec)
    if diffs:
        raise BufferError(f"cannot merge {a} and {b}: their specs differ:\n  " + "\n  ".join(diffs))
    with RolloutBuffer.create(out, src_a.spec, steps_per_chunk=src_a.steps_per_chunk) as dst:
        copy_episodes(src_a, dst)
        copy_episodes(src_b, dst)
    return RolloutBuffer.open(out)
