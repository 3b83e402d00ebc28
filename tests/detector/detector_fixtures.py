"""Synthetic labelled buffers for detector tests: success is visible only in the final frame, and only
together with the instruction (the instructed cube must be the lifted one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_rl.buffer import RolloutBuffer
from robot_rl.spec import EmbodimentSpec

DATA = Path(__file__).resolve().parents[1] / "data"
COLORS = {"red": (230, 20, 20), "blue": (20, 20, 230)}


def tiny_spec() -> EmbodimentSpec:
    return EmbodimentSpec.from_yaml(DATA / "tiny_spec.yaml")


def _frame(rng: np.random.Generator, xs: dict[str, int], lifted: str | None) -> dict[str, np.ndarray]:
    front = rng.integers(0, 60, size=(16, 16, 3), dtype=np.uint8)
    for color, x in xs.items():
        y = 1 if color == lifted else 11
        front[y:y + 4, x:x + 3] = COLORS[color]
    wrist = rng.integers(0, 60, size=(8, 12, 3), dtype=np.uint8)
    return {"front": front, "wrist": wrist}


def write_synthetic(path: Path, contexts: range, per_context: int = 2, seed: int = 0, success_rate: float = 0.5,
                    label_source: str = "sim", status_fail: str = "timeout") -> RolloutBuffer:
    """Episodes of 3-4 frames; failures lift nothing or the wrong cube (a hard negative)."""
    spec = tiny_spec()
    rng = np.random.default_rng(seed)
    h, a = spec.chunk_shape
    buf = RolloutBuffer.create(path, spec)
    for c in contexts:
        task = "red" if c % 2 == 0 else "blue"
        other = "blue" if task == "red" else "red"
        ctx_rng = np.random.default_rng(1000 + c)
        xs = dict(zip((task, other), ctx_rng.choice([0, 4, 8, 12], size=2, replace=False).tolist()))
        for _ in range(per_context):
            success = bool(rng.random() < success_rate)
            lifted = task if success else (other if rng.random() < 0.5 else None)
            n = int(rng.integers(3, 5))
            w = buf.begin_episode()
            for j in range(n):
                w.add_step(images=_frame(rng, xs, lifted if j == n - 1 else None), proprio=np.zeros(spec.proprio_dim, np.float32),
                           action=np.zeros((h, a), np.float32), log_prob=np.zeros((h, a), np.float32),
                           t_capture=float(j), t_decision=float(j))
            w.commit(task=f"pick_{task}", context_id=f"pick_{task}/{c}", init_id=c, instruction=f"pick up the {task} cube",
                     reward=int(success), label_source=label_source, status="ok" if success else status_fail)
    buf.close()
    return RolloutBuffer.open(path)
