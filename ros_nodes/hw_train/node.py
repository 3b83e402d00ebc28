"""hw_train node: the hardware LOOP cycle on the ROS graph (what `robot-rl hw-train CONFIG` runs).

Phases, published as the schedule's ``status`` on ``/robot_rl/hw_schedule`` (latched, whenever it
changes)::

    collecting --enough groups with signal--> training --policy v+1 saved--> deploying
        ^                                                                       |
        +------------- /robot_rl/policy_version reports v+1 ---------------------+

- collecting: the schedule is recomputed from the rollout buffer (read-only; re-read
  ``event_delay_s`` after every episode event and every ``poll_s``) by
  :func:`robot_rl.train.hw_loop.plan_cycle`. ``skip_context`` requests on ``/robot_rl/hw_request``
  skip the current group (kept in the run's state file).
- training: :func:`~robot_rl.train.hw_loop.update_cycle` in a background thread (the node keeps
  publishing); it saves policy v+1 and the new state.
- deploying: sets the policy node's ``checkpoint`` (and ``temperature``) parameters through
  ``/<policy_node>/set_parameters``, calls ``/robot_rl/reload_policy`` and waits until
  ``/robot_rl/policy_version`` reports the new version (a running episode finishes first); on a
  timeout it starts over. The same happens at start-up whenever the policy node runs another
  version than the run's current one (it was restarted, or hw-train stopped before deploying).

The buffer and the state file are the whole truth: kill hw-train (or any node) at any point and
restart it; it recomputes the same schedule and goes on.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Int64, String
from std_srvs.srv import Trigger

from robot_rl.buffer import EpisodeTable, RolloutBuffer
from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.policies import load_policy
from robot_rl.wire import topics
from robot_rl.wire.hw_schedule import HwSchedule, parse_hw_request
from robot_rl.train.hw_config import HwTrainConfig
from robot_rl.train.hw_loop import (
    CyclePlan, check_specs, next_cycle, open_or_init_state, plan_cycle, skip_group, update_cycle,
)
from robot_rl.train.hw_state import save_state
from ros_nodes import qos


class HwTrainNode(Node):
    """See the module docstring."""

    def __init__(self, cfg: HwTrainConfig, use_sim_time: bool = False) -> None:
        # use_sim_time: poll, event delay and deploy timeouts in sim seconds (/clock from the robot stand-in).
        super().__init__("hw_train", parameter_overrides=[Parameter("use_sim_time", Parameter.Type.BOOL, use_sim_time)])
        self.cfg = cfg
        self.state, resumed = open_or_init_state(cfg)
        self._policy_spec = load_policy(self.state.checkpoint).spec
        self.buffer: RolloutBuffer | None = None
        self.plan: CyclePlan | None = None
        self.phase = "done" if self._cycles_done() else "collecting"
        self.error = ""
        self.active_version: int | None = None  # what the policy node reports
        self._refresh_at = 0.0
        self._published = ""
        self._train_thread: threading.Thread | None = None
        self._train_result: tuple | None = None
        self._deploy_step = ""
        self._deploy_since = 0.0
        self._future = None

        self.schedule_pub = self.create_publisher(String, topics.HW_SCHEDULE, qos.LATCHED)
        self.create_subscription(String, topics.HW_REQUEST, self._on_request, qos.RELIABLE)
        self.create_subscription(String, topics.EPISODE_EVENT, self._on_event, qos.RELIABLE)
        self.create_subscription(Int64, topics.POLICY_VERSION, self._on_version, qos.LATCHED)
        node = cfg.deploy.policy_node.strip("/")
        self.set_params = self.create_client(SetParameters, f"/{node}/set_parameters")
        self.reload = self.create_client(Trigger, topics.RELOAD_POLICY)
        self.create_timer(0.1, self._tick)
        self.get_logger().info(
            f"{'resumed' if resumed else 'started'} run {cfg.run_dir}: cycle {self.state.cycle}, policy "
            f"v{self.state.policy_version} ({self.state.deploy_path}); K={cfg.group_size}, "
            f"{cfg.groups_needed} groups per update; buffer {cfg.buffer}")

    def _now(self) -> float:
        """Graph time: wall-clock on hardware, the stand-in's /clock with use_sim_time."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _cycles_done(self) -> bool:
        return bool(self.cfg.cycles) and sum(1 for h in self.state.history if h.get("update")) >= self.cfg.cycles

    # ---- inputs -----------------------------------------------------------------------------

    def _on_event(self, _msg: String) -> None:
        # The policy node commits the episode on the same event: read the buffer a moment later.
        self._refresh_at = min(self._refresh_at, self._now() + self.cfg.deploy.event_delay_s)

    def _on_version(self, msg: Int64) -> None:
        if msg.data != self.active_version:
            self.get_logger().info(f"policy node runs version {msg.data}")
        self.active_version = int(msg.data)

    def _on_request(self, msg: String) -> None:
        try:
            request = parse_hw_request(msg.data)
        except ConfigError as err:
            self.get_logger().warning(f"rejected hw request: {err}")
            return
        if self.phase != "collecting" or self.plan is None:
            self.get_logger().warning(f"{request.request} '{request.group_id}' ignored: {self.phase}, not collecting")
            return
        try:
            self._refresh_buffer()  # skip what the buffer says is current now, not what it was a second ago
            self.plan = self._plan()
            self.state = skip_group(self.state, self.plan, request.group_id)
        except RobotRLError as err:
            self.get_logger().warning(f"rejected hw request from '{request.operator}': {err}")
            self._published = ""  # republish: the panel waits for an answer to its request
            return
        save_state(self.cfg.run_dir, self.state)
        self.get_logger().info(f"group {request.group_id} skipped by '{request.operator}'")
        self._refresh_at = self._now()

    # ---- buffer and plan --------------------------------------------------------------------

    def _refresh_buffer(self) -> EpisodeTable:
        if self.buffer is None and Path(self.cfg.buffer, "zarr.json").is_file():
            buffer = RolloutBuffer.open(self.cfg.buffer)
            check_specs(self.cfg, buffer, self._policy_spec)
            self.buffer = buffer
        if self.buffer is None:
            return EpisodeTable.empty()
        self.buffer.refresh()  # re-reads the commit record: episodes the policy node committed since
        return self.buffer.episodes

    def _plan(self) -> CyclePlan:
        table = self.buffer.episodes if self.buffer is not None else EpisodeTable.empty()
        return plan_cycle(table, self.cfg, self.state)

    def _publish(self) -> None:
        if self.plan is None:
            return
        s: HwSchedule = self.plan.schedule
        if self.phase != "collecting":
            messages = {"training": f"cycle {s.cycle}: updating policy v{s.policy_version} on "
                                    f"{len(self.plan.signal_groups)} group(s)",
                        "deploying": f"deploying policy v{self.state.policy_version}: {self._deploy_step or 'waiting'}",
                        "done": f"done: {self.cfg.cycles} update(s); policy v{self.state.policy_version}"}
            s = s.model_copy(update={"status": self.phase, "current": -1, "message": messages[self.phase]})
        if self.error:
            s = s.model_copy(update={"message": f"{s.message} (last error: {self.error})"[:4000]})
        text = s.to_json()
        if text != self._published:
            self.schedule_pub.publish(String(data=text))
            self._published = text
            self.get_logger().info(f"schedule: {s.status}: {s.message}")

    # ---- the cycle --------------------------------------------------------------------------

    def _tick(self) -> None:
        try:
            if self.phase == "collecting":
                self._collecting()
            elif self.phase == "training":
                self._training()
            elif self.phase == "deploying":
                self._deploying()
        except RobotRLError as err:  # e.g. a spec mismatch; the node stays up and says so
            self.error = str(err)
            self.get_logger().error(self.error, throttle_duration_sec=5.0)
        if self.plan is None:
            self.plan = self._plan()
        self._publish()

    def _collecting(self) -> None:
        if self.active_version is not None and self.active_version != self.state.policy_version:
            self._start_deploy()  # the policy node runs another version: episodes would not count
            return
        if self._now() < self._refresh_at and self.plan is not None:
            return
        self._refresh_at = self._now() + self.cfg.deploy.poll_s
        self._refresh_buffer()
        self.plan = self._plan()
        if self.active_version is None:
            return  # publish the plan, but wait for the policy node before training anything
        if self.plan.ready:
            self.phase = "training"
            self._train_result = None
            self._train_thread = threading.Thread(target=self._train, args=(self.state, self.plan), daemon=True)
            self._train_thread.start()
        elif self.plan.exhausted:
            self.state = next_cycle(self.cfg, self.state)
            self.plan = self._plan()

    def _train(self, state, plan) -> None:
        try:
            self._train_result = ("ok", *update_cycle(self.cfg, state, plan))
        except Exception as err:  # noqa: BLE001 - reported on the schedule; the node goes on collecting
            self._train_result = ("error", f"{type(err).__name__}: {err}")

    def _training(self) -> None:
        if self._train_thread is not None and self._train_thread.is_alive():
            return
        result, self._train_thread = self._train_result, None
        if result is None or result[0] == "error":
            self.error = f"update failed: {result[1] if result else 'no result'}"
            self.get_logger().error(self.error)
            self.phase = "collecting"
            self._refresh_at = self._now() + self.cfg.deploy.timeout_s  # do not retry in a tight loop
            return
        _, self.state, metrics = result
        self.error = ""
        self.get_logger().info(
            f"cycle {self.state.cycle - 1}: policy v{self.state.policy_version} saved ({self.state.checkpoint}); "
            f"{int(metrics['rollout/groups'])} groups, success {metrics['charts/train_success_rate']:.2f}, "
            f"approx_kl {metrics.get('losses/approx_kl', 0.0):.4f}, {metrics['time/update_s']:.1f} s")
        self.plan = self._plan()
        self._start_deploy()

    def _start_deploy(self) -> None:
        self.phase = "deploying"
        self._deploy_step = "set_parameters"
        self._deploy_since = self._now()
        self._future = None

    def _deploying(self) -> None:
        if self.active_version == self.state.policy_version:
            self.get_logger().info(f"policy v{self.state.policy_version} is acting")
            self.phase = "done" if self._cycles_done() else "collecting"
            self._deploy_step, self._future = "", None
            self._refresh_at = 0.0
            self.plan = self._plan()
            return
        if self._now() - self._deploy_since > self.cfg.deploy.timeout_s:
            self.error = f"deploy timed out at step '{self._deploy_step}'; retrying"
            self.get_logger().warning(self.error)
            self._start_deploy()
            return
        if self._deploy_step == "set_parameters":
            self._call(self.set_params, self._parameters_request(), "reload", self._check_parameters)
        elif self._deploy_step == "reload":
            self._call(self.reload, Trigger.Request(), "wait_version", self._check_reload)

    def _call(self, client, request, next_step: str, check) -> None:
        if self._future is None:
            if not client.service_is_ready():
                return
            self._future = client.call_async(request)
            return
        if not self._future.done():
            return
        future, self._future = self._future, None
        problem = check(future.result())
        if problem:
            self.error = problem
            self.get_logger().error(problem)
            self._deploy_since = self._now() - self.cfg.deploy.timeout_s + 2.0  # retry from the start in 2 s
            return
        self._deploy_step = next_step

    def _parameters_request(self) -> SetParameters.Request:
        params = [Parameter("checkpoint", Parameter.Type.STRING, self.state.deploy_path)]
        if self.cfg.deploy.set_temperature:
            params.append(Parameter("temperature", Parameter.Type.DOUBLE, float(self.cfg.loop.temperature)))
        return SetParameters.Request(parameters=[p.to_parameter_msg() for p in params])

    def _check_parameters(self, response) -> str:
        bad = [r.reason for r in response.results if not r.successful]
        return f"policy node refused the parameters: {'; '.join(bad)}" if bad else ""

    def _check_reload(self, response) -> str:
        return "" if response.success else f"policy node could not reload: {response.message}"
