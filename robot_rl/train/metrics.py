"""Training metrics to JSONL (the source of truth for `robot-rl plot`) and TensorBoard."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class MetricsLogger:
    """Appends one JSON object per record to ``RUN/metrics.jsonl`` and mirrors scalars to TensorBoard."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(run_dir) / "tb"))
            except ImportError:  # tensorboard is optional
                log.info("tensorboard not installed; metrics go to %s only", self.path)

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def log(self, metrics: dict[str, float], step: int) -> None:
        """One training update's scalars."""
        self._write({"kind": "train", "step": step, "time": time.time(), **metrics})
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)

    def log_eval(self, table: dict[str, Any], step: int, env_steps: int, rollouts: int) -> None:
        """An evaluation's success table (see :func:`robot_rl.train.evaluate.success_table`)."""
        self._write({"kind": "eval", "step": step, "time": time.time(), "charts/env_steps": env_steps,
                     "charts/rollouts": rollouts, **table})
        if self._tb is not None:
            self._tb.add_scalar("eval/success_rate", table["success_rate"], step)
            for task, row in table["per_task"].items():
                self._tb.add_scalar(f"eval/success_rate/{task}", row["success_rate"], step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()
