"""Commands an operator panel page (or a script) sends, validated before they touch any state.

Wire form (HTTP ``POST /api/command`` body, or a WebSocket message with ``"type": "command"``)::

    {"command": "success", "operator": "ana"}
    {"command": "failure", "operator": "ana", "episode_id": "g3-2-a1b2"}   # optional guard

``episode_id``, when given, must name the episode the command is meant for: a page that shows
an older state (two pages, a slow network) then gets a clear refusal instead of labelling the
wrong episode.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from robot_rl.config import StrictConfig, validate_config
from robot_rl.errors import ConfigError, RobotRLError

CommandName = Literal["start", "success", "failure", "abort", "skip", "estop", "undo", "accept"]
# ``accept``: label the running episode with the success detector's current proposal (source
# detector_confirmed); refused when no detector proposes or it is unsure.
COMMANDS: tuple[str, ...] = ("start", "success", "failure", "abort", "skip", "estop", "undo", "accept")
LABELS = ("success", "failure", "abort")


class PanelError(RobotRLError):
    """A command the panel refuses; ``status`` is the HTTP status (400 malformed, 409 not allowed now)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class PanelCommand(StrictConfig):
    """One operator command (see the module docstring)."""

    command: CommandName
    operator: str = Field(default="", max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$",
                          description="who pressed it; empty = the panel's default operator")
    episode_id: str = Field(default="", max_length=128, description="optional: the episode the page meant")


def parse_command(data: Any) -> PanelCommand:
    """Validate a decoded JSON body; raise :class:`PanelError` (status 400) saying what is wrong."""
    if not isinstance(data, dict):
        raise PanelError(f"command: expected a JSON object like {{\"command\": \"start\", \"operator\": \"ana\"}}, "
                         f"got {type(data).__name__}", 400)
    if "command" not in data:
        raise PanelError(f"command: missing key 'command'; allowed commands: {', '.join(COMMANDS)}", 400)
    if data.get("command") not in COMMANDS:
        raise PanelError(f"command: unknown command {data.get('command')!r}; allowed: {', '.join(COMMANDS)}", 400)
    try:
        cmd = validate_config(PanelCommand, data, "command")
    except ConfigError as err:
        raise PanelError(str(err), 400) from None
    return cmd.model_copy(update={"operator": cmd.operator.strip()})
