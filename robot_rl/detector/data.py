"""Detector data: labelled episodes from rollout buffers, the split by context, and frame examples.

An episode is labelled when its status carries a meaningful reward (``ok``/``timeout``) and its label
came from the simulator, an expert run or a person (``label_source`` not empty and not an unconfirmed
detector proposal: a detector never trains on its own guesses).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from robot_rl.buffer import USABLE_STATUSES, RolloutBuffer
from robot_rl.detector.config import DetectorDataConfig
from robot_rl.errors import BufferError, ConfigError
from robot_rl.spec import EmbodimentSpec

UNCONFIRMED_SOURCES = ("", "detector")  # labels a detector must not learn from


@dataclass
class LabelledEpisode:
    """One labelled episode's frames (one per policy decision) and label."""

    context: str  # split key: the same context never lands in two splits
    task: str
    instruction: str
    label: int  # 1 success, 0 failure
    images: dict[str, np.ndarray]  # cam -> (T, H, W, 3) uint8
    source: str  # "BUF#episode"


def labelled_rows(buffer: RolloutBuffer) -> np.ndarray:
    """Indices of the buffer's labelled episodes (see the module docstring)."""
    t = buffer.episodes
    ok = np.isin(t.status, list(USABLE_STATUSES)) & ~np.isin(t.label_source, list(UNCONFIRMED_SOURCES))
    return np.flatnonzero(ok & (t.step_count > 0))


def load_episodes(paths: Sequence[str | Path], cameras: Sequence[str] | None = None,
                  spec: EmbodimentSpec | None = None) -> tuple[EmbodimentSpec, list[LabelledEpisode]]:
    """Every labelled episode of the buffers at ``paths``; the spec is the first buffer's (or ``spec``).

    Every buffer must have the ``cameras`` (default: all of the spec's) at the same image size.
    """
    out: list[LabelledEpisode] = []
    for path in paths:
        buf = RolloutBuffer.open(path)
        if spec is None:
            spec = buf.spec
        names = list(cameras or spec.camera_names)
        mine = {c.name: tuple(c.shape) for c in spec.cameras}
        theirs = {c.name: tuple(c.shape) for c in buf.spec.cameras}
        bad = [c for c in names if c not in mine or theirs.get(c) != mine.get(c)]
        if bad:
            raise BufferError(f"{path}: cameras {bad} differ from spec '{spec.name}' "
                              f"(wanted {[(c, mine.get(c)) for c in bad]}, the buffer has {theirs}); "
                              "train one detector per camera set")
        rows = labelled_rows(buf)
        if len(rows) == 0:
            t = buf.episodes
            raise BufferError(
                f"{path}: no labelled episodes ({len(t)} episodes; labels are episodes with status ok/timeout "
                f"and a label source other than {list(UNCONFIRMED_SOURCES)}; statuses here: "
                f"{sorted(set(t.status.tolist()))}, label sources: {sorted(set(t.label_source.tolist()))}). "
                "Label episodes on the panel, or record simulator-labelled ones with `robot-rl eval --record BUF`")
        t = buf.episodes
        for i in rows:
            ctx = str(t.context_id[i]) or str(t.group_id[i]) or f"{path}#{i}"
            frames = buf.read_episode(int(i), fields=[f"images/{c}" for c in names])
            out.append(LabelledEpisode(f"{t.task[i]}/{ctx}", str(t.task[i]), str(t.instruction[i]), int(t.reward[i] > 0),
                                       {c: frames[f"images/{c}"] for c in names}, f"{path}#{i}"))
    if spec is None:
        raise ConfigError("no buffers given; pass at least one --buffer")
    return spec, out


def split_by_context(contexts: Sequence[str], labels: Sequence[int], fraction: float, seed: int = 0) -> np.ndarray:
    """A boolean mask of held-out episodes: whole contexts, about ``fraction`` of them, drawn separately
    among contexts with and without a success so both splits see both classes."""
    contexts = np.asarray(contexts)
    labels = np.asarray(labels)
    uniq = sorted(set(contexts.tolist()))
    any_success = {c: bool(labels[contexts == c].max()) for c in uniq}
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for flag in (True, False):
        group = [c for c in uniq if any_success[c] == flag]
        rng.shuffle(group)
        held.update(group[: int(round(fraction * len(group)))])
    return np.isin(contexts, list(held))


def check_class_counts(labels: np.ndarray, minimum: int, what: str) -> None:
    """Refuse a split with fewer than ``minimum`` episodes of either class."""
    pos, neg = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    if min(pos, neg) < minimum:
        raise ConfigError(
            f"the {what} split has {pos} successful and {neg} failed episodes; it needs >= {minimum} of each "
            f"(data.min_episodes_per_class) to train and calibrate. Record more episodes of the rarer outcome "
            "(e.g. `robot-rl eval --record BUF` at a higher --temperature, or more contexts)")


def frame_examples(episodes: Sequence[LabelledEpisode], cfg: DetectorDataConfig
                   ) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """Training frames: images cam -> (N, H, W, 3), instructions (N), labels (N,) float32 (see DetectorDataConfig)."""
    picks: list[tuple[int, int, int]] = []  # (episode, frame, label)
    for e, ep in enumerate(episodes):
        n = len(next(iter(ep.images.values())))
        end = list(range(max(0, n - cfg.end_frames), n))
        picks += [(e, f, ep.label) for f in end]
        if ep.label:
            picks += [(e, f, 0) for f in range(0, max(0, n - cfg.hard_negative_gap))]
        elif cfg.failed_earlier_frames:
            picks += [(e, f, 0) for f in range(0, max(0, n - cfg.end_frames))]
    cams = list(episodes[0].images) if episodes else []
    images = {c: np.stack([episodes[e].images[c][f] for e, f, _ in picks]) for c in cams}
    return images, [episodes[e].instruction for e, _, _ in picks], np.array([y for _, _, y in picks], np.float32)
