"""Write result files atomically: a crash or a refused input never leaves a half-written file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_yaml_atomic(path: str | Path, data: Any) -> None:
    """Dump ``data`` as YAML to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    tmp.replace(path)
