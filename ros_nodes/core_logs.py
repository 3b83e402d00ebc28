"""Write a node core's log lines (robot_rl.nodes.outputs.Note) to the node's ROS logger."""

from __future__ import annotations

from typing import Iterable

from rclpy.impl.rcutils_logger import RcutilsLogger

from robot_rl.nodes.outputs import Note, Status
from ros_nodes.messages import ERROR, OK, WARN

LEVELS = {"ok": OK, "warn": WARN, "error": ERROR}  # Status.level -> DiagnosticStatus level


def log_notes(logger: RcutilsLogger, notes: Iterable[Note]) -> None:
    """Log each note at its level (the core rate-limited them already)."""
    for note in notes:
        if note.level == "error":
            logger.error(note.text)
        elif note.level == "warning":
            logger.warning(note.text)
        else:
            logger.info(note.text)


def status_level(status: Status) -> bytes:
    """The DiagnosticStatus level byte for a core's status."""
    return LEVELS[status.level]
