"""Parameters of ``rehearsal_operator``: the scripted operator of a rehearsal (docs/rehearsal.md).

The same model configures the pure decision logic (:mod:`robot_rl.rehearsal.operator`) and the node
(``ros_nodes/rehearsal/operator_node.py``) that carries its actions out over the panel's HTTP API.
"""

from __future__ import annotations

from pydantic import Field

from robot_rl.config import StrictConfig

_OPERATOR = r"^[^\x00-\x1f\x7f]*$"  # printable: the id ends up in the buffer's episode table


class OperatorConfig(StrictConfig):
    """Who the operator is, how fast and how reliably they label, and where the panel is."""

    panel_url: str = Field(default="http://127.0.0.1:8080", min_length=1, pattern=r"^https?://[^\s/]+$",
                           description="the panel's address, as typed into a browser (no path)")
    token: str = Field(default="", max_length=256, pattern=r"^[A-Za-z0-9_.~-]*$",
                       description="the panel's access token (sent as 'Authorization: Bearer ...'); empty = none")
    operator_id: str = Field(default="rehearsal", min_length=1, max_length=128, pattern=_OPERATOR,
                             description="operator id sent with every command (recorded in the buffer)")
    follow_schedule: bool = Field(default=True, description="press Start only while hw-train's schedule shows a group "
                                                            "to collect; false = whenever the panel is idle")
    reaction_delay_s: float = Field(default=1.0, ge=0.0, le=60.0,
                                    description="mean time from seeing the outcome to pressing the label [s]")
    reaction_jitter_s: float = Field(default=0.3, ge=0.0, le=30.0,
                                     description="standard deviation of the reaction delay [s] (normal, cut at 0)")
    mislabel_rate: float = Field(default=0.0, ge=0.0, le=1.0,
                                 description="probability of pressing the wrong label (Success for a failure or back)")
    reset_s: float = Field(default=10.0, ge=0.0, le=600.0,
                           description="time to re-arrange the scene between episodes [s]: the operator waits this "
                                       "long after a label before the next Start, and it counts as operator time")
    ack_patience_s: float = Field(default=5.0, gt=0.0, le=120.0,
                                  description="an episode policy_node has not confirmed recording after this long is "
                                              "aborted and started again [s]")
    retry_s: float = Field(default=1.0, gt=0.0, le=60.0, description="wait this long after the panel refused Start [s]")
    seed: int = Field(default=0, ge=0, description="seeds the reaction delays and mislabels")
    poll_hz: float = Field(default=10.0, gt=0.0, le=100.0, description="how often the page state is read [Hz]")
    panel_timeout_s: float = Field(default=30.0, gt=0.0, le=3600.0,
                                   description="exit with an error when the panel has not answered for this long "
                                               "(wall-clock seconds)")
    log_path: str = Field(default="", description="JSONL file: one line per finished episode (the operator's "
                                                  "record); empty = none")
