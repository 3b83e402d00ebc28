"""The small state of a hardware LOOP run that the rollout buffer does not hold: ``RUN/hw_state.json``.

The buffer is the source of truth for what was collected; this file holds only what cannot be
recomputed from it: the cycle number, the current policy (version, checkpoint, what the policy
node loads), the groups the operator skipped in this cycle, and a short history of updates. It
is replaced atomically (temp file + ``os.replace``), so a crash leaves the old or the new state.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field

from robot_rl.config import StrictConfig, validate_config
from robot_rl.errors import ConfigError

STATE_FILE = "hw_state.json"
STATE_FORMAT = "robot_rl.hw_train_state"
STATE_VERSION = 1


class HwState(StrictConfig):
    """Where a hardware LOOP run stands (immutable; ``model_copy(update=...)`` makes the next state)."""

    format: str = STATE_FORMAT
    format_version: int = STATE_VERSION
    cycle: int = Field(0, ge=0, description="update cycles finished")
    policy_version: int = Field(0, ge=0, description="version of the policy collecting now")
    checkpoint: str = Field(min_length=1, description="torch checkpoint of that policy (what the update starts from)")
    deploy_path: str = Field(min_length=1, description="what the policy node loads (checkpoint dir or .onnx)")
    skipped: list[str] = Field(default=[], description="group ids the operator skipped in this cycle")
    history: list[dict[str, Any]] = Field(default=[], description="one record per update")


def state_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / STATE_FILE


def load_state(run_dir: str | Path) -> HwState | None:
    """The run's state, or None if the run directory holds none yet."""
    path = state_path(run_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not JSON ({err}); restore it or start a new run directory") from None
    state = validate_config(HwState, data, str(path))
    if state.format != STATE_FORMAT or state.format_version != STATE_VERSION:
        raise ConfigError(f"{path}: format {state.format!r} v{state.format_version}; this code reads "
                          f"{STATE_FORMAT!r} v{STATE_VERSION}")
    return state


def save_state(run_dir: str | Path, state: HwState) -> Path:
    """Write the state atomically (readers and a crash see the old or the new file, never a mix)."""
    path = state_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{STATE_FILE}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(state.model_dump(mode="json"), f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
