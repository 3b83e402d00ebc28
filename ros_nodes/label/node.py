"""success_label_node: the operator panel (a web page) that starts, labels and stops episodes.

Inputs: ``<cam>/image_raw`` (shown as reduced-rate JPEG; the first frame of each group is its
reference picture), ``/robot_rl/episode_ack`` (policy_node's answer to each start: a label is
accepted only for an episode it records), ``/robot_rl/policy_version``,
``/robot_rl/hw_schedule`` (hw-train's plan: what Start opens), ``/robot_rl/episode_event`` (events
from others, e.g. a simulator), ``/robot_rl/estop`` (from any publisher, latched, volatile like
``ros2 topic pub`` or best effort) and the executor's ``/diagnostics`` (the real e-stop state). Outputs: episode events (start / success / failure / abort / estop, label source
``operator``, or ``detector_confirmed`` with ``detector_p`` when the operator accepts the
success detector's proposal: parameter ``detector``, scored on the node's own thread), ``/robot_rl/estop`` (Bool True, latched), ``/robot_rl/hw_request`` (skip a
context), the panel heartbeat, ``/diagnostics``. The page and its API are served by
:class:`~ros_nodes.label.server.PanelServer` (aiohttp, own thread); the label logic is
:class:`~robot_rl.panel.machine.PanelMachine`. docs/panel.md describes both.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Header, Int64, String

from robot_rl.errors import ConfigError
from robot_rl.panel import Outputs, PanelError, PanelMachine, ReferenceFrames, parse_command, resolve_token
from robot_rl.panel.proposal import make_proposal
from robot_rl.wire import topics
from robot_rl.wire.episode_event import parse_episode_ack, parse_episode_event
from robot_rl.wire.hw_schedule import parse_hw_schedule
from robot_rl.ros_config.label import LabelNodeConfig
from robot_rl.spec import load_spec
from ros_nodes import qos
from ros_nodes.label.jpeg import encode_jpeg
from ros_nodes.label.server import STATIC_DIR, PanelServer
from ros_nodes.messages import OK, WARN, diagnostic_array, msg_to_rgb, stamp_to_s
from ros_nodes.params import NodeParams
from ros_nodes.run import run_node

_STATIC = ["host", "port", "token", "spec", "cameras", "image_qos", "image_topics", "heartbeat_rate_hz", "detector"]


class LabelNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__("success_label_node")
        self.params = NodeParams(self, LabelNodeConfig, on_change=self._reconfigure, static=_STATIC)
        cfg: LabelNodeConfig = self.params.config
        self.cfg = cfg
        if cfg.cameras:
            self.cameras = list(cfg.cameras)
        else:
            try:
                self.cameras = load_spec(cfg.spec).camera_names
            except KeyError as err:
                raise ConfigError(f"success_label_node: spec: {err.args[0]}") from None
        if cfg.reference_camera and cfg.reference_camera not in self.cameras:
            raise ConfigError(f"success_label_node: reference_camera: got {cfg.reference_camera!r}; "
                              f"allowed: one of the cameras {self.cameras}")
        self.machine = PanelMachine(cfg)
        self.refs = ReferenceFrames()
        self._lock = threading.Lock()  # the machine and the references: ROS callbacks vs. the server thread
        self._frames: dict[str, bytes] = {}
        self._seqs: dict[str, int] = {c: 0 for c in self.cameras}
        self._last_encode: dict[str, float] = {c: float("-inf") for c in self.cameras}
        self.stats: Counter[str] = Counter()
        self.scorer = self._load_detector(cfg)
        self._det_frames: dict[str, Any] = {}       # detector camera -> latest decoded RGB frame
        self._det_seq = 0                          # bumps on every new detector frame
        self._last_det: dict[str, float] = {c: float("-inf") for c in self.cameras}
        self._det_stop = threading.Event()
        self.det_latency: list[float] = []          # recent verdict latencies [s] (diagnostics: p99)

        # One single-threaded executor for everything (see ros_nodes/run.py): JPEG encoding at the reduced
        # panel rate costs ~1 ms, well inside the heartbeat period.
        image_qos = qos.by_name(cfg.image_qos)
        try:
            image_topics = topics.resolve_image_topics(self.cameras, cfg.image_topics)
        except ValueError as err:
            raise ConfigError(f"success_label_node: {err}") from None
        for cam, topic in image_topics.items():
            self.create_subscription(Image, topic, lambda m, c=cam: self._on_image(c, m), image_qos)
        self.create_subscription(String, topics.EPISODE_ACK, self._on_ack, qos.RELIABLE)
        self.create_subscription(Int64, topics.POLICY_VERSION, self._on_version, qos.LATCHED)
        self.create_subscription(String, topics.HW_SCHEDULE, self._on_schedule, qos.LATCHED)
        self.create_subscription(String, topics.EPISODE_EVENT, self._on_event, qos.RELIABLE)
        for profile in qos.ESTOP_SUBSCRIPTIONS:  # latched, volatile and best-effort publishers alike (ros_nodes.qos)
            self.create_subscription(Bool, topics.ESTOP, self._on_estop, profile)
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, qos.RELIABLE)
        self.event_pub = self.create_publisher(String, topics.EPISODE_EVENT, qos.RELIABLE)
        self.estop_pub = self.create_publisher(Bool, topics.ESTOP, qos.LATCHED)
        self.request_pub = self.create_publisher(String, topics.HW_REQUEST, qos.RELIABLE)
        self.heartbeat_pub = self.create_publisher(Header, topics.PANEL_HEARTBEAT, qos.SENSOR)
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.RELIABLE)
        self.create_timer(1.0 / cfg.heartbeat_rate_hz, self._tick)
        self.create_timer(1.0, self._publish_diagnostics)

        if self.scorer is not None:
            # Its own thread: a verdict costs tens of ms of CPU, which must never hold up the heartbeat,
            # the e-stop or a command (the machine lock is only taken to read the episode and post the result).
            self._det_thread = threading.Thread(target=self._detector_loop, name="panel-detector", daemon=True)
            self._det_thread.start()

        token, generated = resolve_token(cfg.host, cfg.token)
        self.server = PanelServer(self, cfg.host, cfg.port, token, STATIC_DIR, frame_rate_hz=cfg.jpeg_rate_hz)
        try:
            port = self.server.start()
        except OSError as err:
            raise ConfigError(f"success_label_node: cannot listen on {cfg.host}:{cfg.port} ({err}); "
                              "set parameter port (0 = any free port) or host") from None
        url = f"http://{cfg.host}:{port}/" + (f"?token={token}" if token else "")
        self.url = url.split("?")[0]
        self.get_logger().info(
            f"operator panel at {url}" + (" (token generated: set parameter token to choose one)" if generated else "")
            + f"; cameras {self.cameras}; time limit {cfg.time_limit_s:g} s; undo window {cfg.undo_window_s:g} s")

    # ---- helpers ----------------------------------------------------------------------------

    def _load_detector(self, cfg: LabelNodeConfig) -> Any:
        if not cfg.detector:
            return None
        from robot_rl.detector.checkpoint import load_detector  # torch: only when a detector is used
        from robot_rl.detector.live import LiveScorer
        from robot_rl.errors import SpecMismatchError

        try:
            detector = load_detector(cfg.detector)
            detector.check_spec(load_spec(cfg.spec), f"success_label_node (spec {cfg.spec})")
        except (ConfigError, SpecMismatchError, OSError, KeyError) as err:
            raise ConfigError(f"success_label_node: detector: {err}") from None
        missing = [c for c in detector.cameras if c not in self.cameras]
        if missing:
            raise ConfigError(f"success_label_node: detector: it needs camera(s) {missing}, the panel shows "
                              f"{self.cameras} (parameter cameras)")
        self.get_logger().info(f"success detector {cfg.detector}: cameras {detector.cameras}, abstain below "
                               f"confidence {detector.calibration.threshold:.3f}, at most {cfg.detector_rate_hz:g} Hz")
        return LiveScorer(detector)

    def _detector_loop(self) -> None:
        """Score the recording episode on the latest frames, at most ``detector_rate_hz``."""
        seen = -1
        while not self._det_stop.is_set():
            period = 1.0 / self.cfg.detector_rate_hz
            t0 = time.monotonic()
            with self._lock:
                ep = self.machine.active
                episode = (ep.episode_id, ep.instruction) if ep is not None and ep.recording else None
            frames = dict(self._det_frames)
            if episode is not None and self._det_seq != seen and all(c in frames for c in self.scorer.cameras):
                seen = self._det_seq
                try:
                    score = self.scorer.score(episode[0], episode[1], frames)
                except Exception as err:  # noqa: BLE001 - a bad frame must not kill the thread: shown, counted
                    self.stats["detector_errors"] += 1
                    self.get_logger().warning(f"detector: {err}", throttle_duration_sec=5.0)
                else:
                    self.det_latency = (self.det_latency + [score.latency_s])[-200:]
                    self.stats["detector_verdicts"] += 1
                    with self._lock:
                        before = self.machine.revision
                        autos = self.machine.auto_stats["auto_labelled"]
                        now = self._now()
                        out = self.machine.on_detector(make_proposal(score.episode_id, score.p, score.threshold,
                                                                     now), now)
                        self._emit(out, now)  # automatic mode: a label with no undo window is published at once
                        changed = self.machine.revision != before
                        auto = self.machine.auto_stats["auto_labelled"] != autos
                    if auto:
                        self.get_logger().info(f"automatic label: success for '{score.episode_id}' "
                                               f"(p {score.p:.3f}; U undoes it)")
                    if changed:
                        self.server.notify()
            self._det_stop.wait(max(0.0, period - (time.monotonic() - t0)))

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _reconfigure(self, cfg: LabelNodeConfig) -> None:
        with self._lock:
            self.cfg = cfg
            self.machine.config = cfg
        self.server.notify()

    def _emit(self, out: Outputs, now: float) -> None:
        """Publish what the machine decided, e-stop first (call with the lock held: keeps the order)."""
        if out.estop:
            self.estop_pub.publish(Bool(data=True))
            self.get_logger().error("E-STOP pressed on the panel")
        for event in out.events:
            self.event_pub.publish(String(data=event.to_json()))
            self.stats[f"events_{event.event}"] += 1
            self.get_logger().info(f"published {event.event} for '{event.episode_id}'"
                                   + (f" by {event.operator}" if event.operator else "")
                                   + (" (time limit)" if event.timeout else ""))
            if event.event == "start":
                self.refs.want(event.group_id, now + self.cfg.reference_delay_s)
        for request in out.requests:
            self.request_pub.publish(String(data=json.dumps(request.model_dump(), sort_keys=True)))
            self.get_logger().info(f"requested {request.request} of group '{request.group_id}'")

    # ---- the backend the server calls (server thread) -----------------------------------------

    def state(self) -> dict[str, Any]:
        """The state JSON (docs/panel.md)."""
        with self._lock:
            state = self.machine.snapshot(self._now())
            group = state["group_id"]
            state["reference"] = f"/reference/{group}.jpg" if group and group in self.refs else None
        state["cameras"] = list(self.cameras)
        return state

    def command(self, data: Any) -> tuple[int, dict[str, Any]]:
        """One command from a page or a script -> (HTTP status, reply body)."""
        try:
            cmd = parse_command(data)
        except PanelError as err:
            return self.malformed(str(err))
        now = self._now()
        with self._lock:
            try:
                out = self.machine.command(cmd, now)
            except PanelError as err:
                status, reply = err.status, {"ok": False, "error": str(err)}
                self.stats["commands_refused"] += 1
                self.get_logger().warning(f"refused {cmd.command} from {cmd.operator or 'the panel'}: {err}")
            else:
                self._emit(out, now)
                status, reply = 200, {"ok": True}
                self.stats[f"command_{cmd.command}"] += 1
        self.server.notify()
        reply["state"] = self.state()
        return status, reply

    def malformed(self, reason: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.machine.reject(f"malformed command: {reason}")
        self.stats["commands_malformed"] += 1
        self.get_logger().warning(f"malformed command: {reason}")
        self.server.notify()
        return 400, {"ok": False, "error": reason, "state": self.state()}

    def camera_jpeg(self, name: str) -> bytes | None:
        return self._frames.get(name)

    def reference_jpeg(self, group_id: str) -> bytes | None:
        with self._lock:
            return self.refs.get(group_id)

    def frame_seqs(self) -> dict[str, int]:
        return dict(self._seqs)

    # ---- ROS inputs -------------------------------------------------------------------------

    def _on_image(self, camera: str, msg: Image) -> None:
        t = time.monotonic()
        cfg = self.cfg
        view_due = t - self._last_encode[camera] >= 1.0 / cfg.jpeg_rate_hz
        ref_camera = cfg.reference_camera or self.cameras[0]
        ref_due = camera == ref_camera and self.refs.waiting
        det_due = (self.scorer is not None and camera in self.scorer.cameras
                   and t - self._last_det[camera] >= 1.0 / cfg.detector_rate_hz)
        if not (view_due or ref_due or det_due):
            return
        try:
            image = msg_to_rgb(msg)
        except ValueError as err:
            self.stats["rejected_images"] += 1
            self.get_logger().warning(f"camera '{camera}': {err}", throttle_duration_sec=5.0)
            return
        if det_due:
            self._det_frames[camera] = image
            self._last_det[camera] = t
            self._det_seq += 1
        jpeg = None
        if view_due:
            jpeg = encode_jpeg(image, cfg.jpeg_quality, cfg.jpeg_max_width)
            self._frames[camera] = jpeg
            self._seqs[camera] += 1
            self._last_encode[camera] = t
        if ref_due:
            stamp = stamp_to_s(msg.header.stamp) or self._now()
            with self._lock:
                took = self.refs.offer(stamp, lambda: jpeg or encode_jpeg(image, cfg.jpeg_quality, cfg.jpeg_max_width))
            if took:
                self.get_logger().info(f"reference picture of group(s) {took} from camera '{camera}'")
                self.server.notify()

    def _on_ack(self, msg: String) -> None:
        try:
            ack = parse_episode_ack(msg.data)
        except ConfigError as err:
            self.stats["rejected_acks"] += 1
            self.get_logger().warning(f"rejected episode ack: {err}", throttle_duration_sec=5.0)
            return
        with self._lock:
            mine = self.machine.active is not None and self.machine.active.episode_id == ack.episode_id
            self.machine.on_ack(ack, self._now())
        if mine and ack.status != "recording":
            self.get_logger().warning(f"policy_node answered {ack.status} for episode '{ack.episode_id}': {ack.reason}")
        elif mine:
            self.get_logger().info(f"policy_node records episode '{ack.episode_id}' ({ack.instruction!r}, "
                                   f"policy v{ack.policy_version})")
        self.server.notify()

    def _on_version(self, msg: Int64) -> None:
        with self._lock:
            self.machine.on_policy_version(msg.data)
        self.server.notify()

    def _on_schedule(self, msg: String) -> None:
        try:
            schedule = parse_hw_schedule(msg.data)
        except ConfigError as err:
            self.stats["rejected_schedules"] += 1
            self.get_logger().warning(f"rejected hw schedule: {err}")
            with self._lock:
                self.machine.reject(f"hw-train sent a bad schedule (ignored): {err}")
        else:
            with self._lock:
                self.machine.on_schedule(schedule)
        self.server.notify()

    def _on_event(self, msg: String) -> None:
        try:
            event = parse_episode_event(msg.data)
        except ConfigError as err:
            self.stats["rejected_events"] += 1
            self.get_logger().warning(f"rejected episode event: {err}", throttle_duration_sec=5.0)
            return
        now = self._now()
        with self._lock:
            self.machine.on_episode_event(event, now)
            if event.event == "start":
                self.refs.want(event.group_id, (event.stamp or now) + self.cfg.reference_delay_s)
        self.server.notify()

    def _set_estop(self, asserted: bool) -> None:
        now = self._now()
        with self._lock:
            before = self.machine.revision
            self._emit(self.machine.on_estop(asserted, now), now)
            changed = self.machine.revision != before
        if changed:
            self.server.notify()

    def _on_estop(self, msg: Bool) -> None:
        if msg.data:  # False changes nothing: only the executor's clear_estop service releases it
            self._set_estop(True)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if "estop" in values and "dry_run" in values:  # the action executor's status
                self._set_estop(values["estop"] == "True")

    # ---- timers -----------------------------------------------------------------------------

    def _tick(self) -> None:
        if not self.cfg.heartbeat_requires_page or self.server.clients > 0:
            self.heartbeat_pub.publish(Header(stamp=self.get_clock().now().to_msg(), frame_id=self.get_name()))
        now = self._now()
        with self._lock:
            before = self.machine.revision
            out = self.machine.tick(now)
            self._emit(out, now)
            changed = self.machine.revision != before  # e.g. a start that got no answer in time
        if out or changed:
            self.server.notify()

    def _publish_diagnostics(self) -> None:
        with self._lock:
            m = self.machine
            active = m.active.episode_id if m.active else ""
            values: dict[str, object] = {"url": self.url, "pages": self.server.clients, "episode": active,
                                         "estop": m.estop, "operator": m.operator, "error": m.error,
                                         "schedule": "yes" if m.schedule is not None else "no",
                                         "resent_starts": m.resent_starts}
        values.update(dict(self.stats))
        if self.cfg.auto_label:
            values.update({f"auto_{k}" if not k.startswith("auto_") else k: v
                           for k, v in self.machine.auto_stats.items()})
        if self.det_latency:
            values["detector_latency_p99_ms"] = round(1000 * float(sorted(self.det_latency)[
                min(len(self.det_latency) - 1, int(0.99 * len(self.det_latency)))]), 1)
        level = WARN if values["estop"] else OK
        message = f"episode {active} running" if active else "idle"
        self.diag_pub.publish(diagnostic_array(self.get_clock().now().to_msg(), f"{self.get_name()}: panel",
                                               self.url, level, message, values))

    def shutdown(self) -> None:
        """Stop the web server (pages see the connection close) and the detector thread."""
        self._det_stop.set()
        self.server.stop()


def main(args: list[str] | None = None) -> int:
    """Console script: ``success_label_node --ros-args --params-file launch/config/label.yaml``."""
    return run_node("success_label_node", LabelNode, args)


if __name__ == "__main__":
    sys.exit(main())
