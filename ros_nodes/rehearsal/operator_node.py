"""rehearsal_operator: a scripted person at the operator panel, for rehearsals on the lab stand-in.

It uses the panel exactly as a browser does: ``GET /api/state`` for what the page shows and
``POST /api/command`` for the buttons (Start, Success, Failure, Abort), with the panel's token as
``Authorization: Bearer``. What a person would see of the robot comes from the stand-in's ground
truth (``/sim_robot/verdict``, :mod:`robot_rl.wire.sim_verdict`). The decisions (follow hw-train's
schedule, reaction delay, mislabels) are :class:`robot_rl.rehearsal.operator.ScriptedOperator`;
this node only adapts it. It never touches the rollout buffer: labels reach it through the panel
and the policy node, as on the robot.

Times are the node clock's, i.e. sim seconds with ``use_sim_time`` (the stand-in's ``/clock``), so
the reaction delay and the scene reset take sim time like every other node's timers. The page is
polled on a steady (wall-clock) timer, so a panel that stops answering is noticed even when
``/clock`` stops too: after ``panel_timeout_s`` the node exits with an error (exit code 2).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from std_msgs.msg import String

from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.rehearsal.operator import Action, ScriptedOperator
from robot_rl.ros_config.params_file import parameter_fields
from robot_rl.ros_config.rehearsal_operator import OperatorConfig
from robot_rl.wire import topics
from robot_rl.wire.sim_verdict import parse_sim_verdict
from ros_nodes import qos
from ros_nodes.params import NodeParams
from ros_nodes.run import run_node


class PanelUnreachable(RobotRLError):
    """The panel has not answered for longer than ``panel_timeout_s``."""


class OperatorNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__("rehearsal_operator")
        self.params = NodeParams(self, OperatorConfig, static=[f.name for f in parameter_fields(OperatorConfig)])
        self.cfg: OperatorConfig = self.params.config
        self.logic = ScriptedOperator(self.cfg, schedule_required=self.cfg.follow_schedule)
        self._headers = {"Content-Type": "application/json"}
        if self.cfg.token:
            self._headers["Authorization"] = f"Bearer {self.cfg.token}"
        self._log_file = None
        if self.cfg.log_path:
            Path(self.cfg.log_path).parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.cfg.log_path, "a")  # noqa: SIM115 - closed in shutdown()
        self._last_answer = time.monotonic()
        # Latched: a verdict sent just before we subscribed still arrives.
        self.create_subscription(String, topics.SIM_VERDICT, self._on_verdict, qos.LATCHED)
        # Steady clock: keeps polling (and noticing a dead panel) even if /clock stops.
        self.create_timer(1.0 / self.cfg.poll_hz, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"operator '{self.cfg.operator_id}' on {self.cfg.panel_url} (reaction "
                               f"{self.cfg.reaction_delay_s} s, mislabel rate {self.cfg.mislabel_rate}, "
                               f"reset {self.cfg.reset_s} s, use_sim_time "
                               f"{self.get_parameter('use_sim_time').value})")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_verdict(self, msg: String) -> None:
        try:
            v = parse_sim_verdict(msg.data)
        except ConfigError as err:
            self.get_logger().warning(f"ignored a bad verdict: {err}")
            return
        self.logic.on_verdict(v.episode_id, v.success, v.steps, self._now())

    # ---- HTTP, as the page does it ------------------------------------------------------------

    def _request(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.cfg.panel_url}{path}", data=data, headers=self._headers,
                                     method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=5) as reply:
                status, text = reply.status, reply.read()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read()
        if status == 401:
            raise ConfigError(f"the panel at {self.cfg.panel_url} refused the token (HTTP 401): set parameter "
                              "token to the one the label node was started with")
        self._last_answer = time.monotonic()
        return status, json.loads(text or b"{}")

    def _tick(self) -> None:
        try:
            _, state = self._request("/api/state")
        except (OSError, ValueError) as err:
            silent = time.monotonic() - self._last_answer
            if silent > self.cfg.panel_timeout_s:
                raise PanelUnreachable(f"the panel at {self.cfg.panel_url} has not answered for {silent:.0f} s "
                                       f"({err}); stopping") from None
            return
        now = self._now()
        action = self.logic.decide(state, now)
        if action is not None:
            self._press(action, now)

    def _press(self, action: Action, now: float) -> None:
        body = {"command": action.command, "operator": self.cfg.operator_id}
        if action.episode_id:
            body["episode_id"] = action.episode_id
        try:
            status, reply = self._request("/api/command", body)
        except (OSError, ValueError) as err:
            self.get_logger().warning(f"{action.command}: no answer from the panel ({err}); trying again")
            return
        if status != 200 or not reply.get("ok"):
            self.get_logger().warning(f"the panel refused {action.command}: HTTP {status} {reply.get('error', '')}")
            if action.command == "start":
                self.logic.on_start_refused(now)
            return
        if action.command == "start":
            ep = (reply.get("state") or {}).get("episode") or {}
            self.logic.on_started(ep.get("episode_id") or "", ep.get("group_id") or "", ep.get("context_id") or "", now)
            self.logic.current.wall_start = time.time()
            self.get_logger().info(f"started {ep.get('episode_id')} ({ep.get('context_id')})")
            return
        rec = self.logic.on_ended(action.command, now)
        if rec is not None:
            rec.wall_label = time.time()
            truth = "?" if rec.truth is None else ("success" if rec.truth else "failure")
            self.get_logger().info(f"{rec.episode_id}: {rec.label} (sim says {truth}"
                                   f"{', MISLABELLED' if rec.mislabelled else ''})")
            if self._log_file is not None:
                self._log_file.write(json.dumps(rec.to_dict()) + "\n")
                self._log_file.flush()

    def shutdown(self) -> None:
        """Log the operator's totals and close the episode log (run_node calls it on the way out)."""
        s = self.logic.summary()
        self.get_logger().info(f"operator '{self.cfg.operator_id}': {s['labelled']} labelled ({s['mislabelled']} "
                               f"mislabelled), {s['aborted']} aborted, {s['operator_s'] / 60:.1f} operator minutes")
        if self._log_file is not None:
            self._log_file.close()


def main(args: list[str] | None = None) -> int:
    return run_node("rehearsal_operator", OperatorNode, args)


if __name__ == "__main__":
    sys.exit(main())
