"""The operator panel's logic, free of ROS and of the web server (docs/panel.md).

- :mod:`robot_rl.panel.commands`: the commands a page sends (start, success, ...) and their errors.
- :mod:`robot_rl.panel.machine`: the label state machine: commands and time in, episode events out.
- :mod:`robot_rl.panel.records`: the episodes, labels and outputs it keeps and returns.
- :mod:`robot_rl.panel.references`: the per-group reference picture of the initial scene.
- :mod:`robot_rl.panel.auth`: the access token rules.

``ros_nodes/label`` wires these to ROS topics and to an aiohttp server; the page itself is
package data in ``robot_rl/panel/static``.
"""

from robot_rl.panel.auth import check_token, is_loopback, resolve_token
from robot_rl.panel.commands import COMMANDS, PanelCommand, PanelError, parse_command
from robot_rl.panel.machine import Outputs, PanelMachine
from robot_rl.panel.references import ReferenceFrames

__all__ = ["COMMANDS", "Outputs", "PanelCommand", "PanelError", "PanelMachine", "ReferenceFrames", "check_token",
           "is_loopback", "parse_command", "resolve_token"]
