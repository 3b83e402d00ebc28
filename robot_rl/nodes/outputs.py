"""What a node core asks its ROS node to do besides publishing: log lines and a diagnostics status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Level = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Note:
    """One log line the node writes at ``level`` (the core already rate-limited it)."""

    level: Level
    text: str


@dataclass
class Status:
    """One ``/diagnostics`` status: ``level`` ok / warn / error, a one-line message, key-value pairs."""

    level: Literal["ok", "warn", "error"]
    message: str
    values: dict[str, object] = field(default_factory=dict)
