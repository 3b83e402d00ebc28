"""The operator panel in a real browser (Debian's chromium, driven by Playwright) over real DDS:
success_label_node + policy_node (tiny policy recording to a zarr buffer) + action_executor, the
test publishing a camera stream and the robot state. The page loads and shows the stream; keyboard
and button labels reach the buffer (reward, label source, operator); undo, refusals and the time
limit behave; a hw-train schedule drives Start, Skip and the reference picture; two pages agree;
a missing or wrong token is refused; E-stop reaches the executor."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from panel_harness import (BROWSER_MARKS, chromium, committed_episodes, free_port, listen_diagnostics, open_panel_page,
                           wait_until)
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Header, String

from ros_harness import NodeProcess, Probe, ros_env
from robot_rl.buffer import RolloutBuffer
from robot_rl.policies import make_policy, save_policy
from robot_rl.wire import topics
from robot_rl.wire.episode_event import parse_episode_event
from robot_rl.wire.hw_schedule import HwGroup, HwSchedule, parse_hw_request
from robot_rl.spec import EmbodimentSpec, load_spec
from ros_nodes import qos
from ros_nodes.messages import image_to_msg

pytestmark = BROWSER_MARKS

TOKEN = "test-token-123"
TIME_LIMIT = 30.0  # the timeout test lowers it at runtime (a parameter change)
UNDO = 2.0
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}
RED, GREEN = (200, 30, 30), (30, 190, 40)


class Robot:
    """The test's side of the graph, spun on a background thread (Playwright blocks the main one)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        n = probe.node
        self.color = RED
        self.events: list = []
        self.estops: list[bool] = []
        self.requests: list = []
        self.heartbeats: list[float] = []  # their stamps [s]: the node's rate, whatever the load here
        self.beating: set[str] = set()     # frame_id (node name) of every panel heard beating
        self.diag = listen_diagnostics(n)
        n.create_subscription(String, topics.EPISODE_EVENT, lambda m: self.events.append(parse_episode_event(m.data)),
                              qos.RELIABLE)
        n.create_subscription(Bool, topics.ESTOP, lambda m: self.estops.append(m.data), qos.LATCHED)
        n.create_subscription(String, topics.HW_REQUEST, lambda m: self.requests.append(parse_hw_request(m.data)),
                              qos.RELIABLE)
        n.create_subscription(Header, topics.PANEL_HEARTBEAT,
                              self._on_heartbeat, qos.SENSOR)
        self.params = n.create_client(SetParameters, "/success_label_node/set_parameters")
        self.image_pub = n.create_publisher(Image, topics.image_topic("wrist"), qos.SENSOR)
        self.pose_pub = n.create_publisher(PoseStamped, topics.EE_POSE, qos.SENSOR)
        self.joint_pub = n.create_publisher(JointState, topics.JOINT_STATES, qos.SENSOR)
        self.schedule_pub = n.create_publisher(String, topics.HW_SCHEDULE, qos.LATCHED)
        n.create_timer(0.05, self._drive)
        self._thread = threading.Thread(target=probe.executor.spin, daemon=True)
        self._thread.start()

    def _on_heartbeat(self, msg: Header) -> None:
        self.beating.add(msg.frame_id)
        if msg.frame_id == "success_label_node":
            self.heartbeats.append(msg.stamp.sec + msg.stamp.nanosec * 1e-9)

    def _drive(self) -> None:
        stamp = self.probe.node.get_clock().now().to_msg()
        image = np.zeros((48, 64, 3), np.uint8)
        image[:] = self.color
        self.image_pub.publish(image_to_msg(image, "rgb8", stamp, "wrist"))
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, "base_link"
        pose.pose.position.x, pose.pose.position.z, pose.pose.orientation.w = 0.5, 0.3, 1.0
        self.pose_pub.publish(pose)
        js = JointState()
        js.header.stamp, js.name, js.position = stamp, ["gripper"], [1.0]
        self.joint_pub.publish(js)

    def set_float(self, name: str, value: float) -> None:
        """``ros2 param set /success_label_node NAME VALUE``."""
        request = SetParameters.Request(parameters=[ParameterMsg(
            name=name, value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value))])
        future = self.params.call_async(request)
        wait_until(future.done, 10, f"setting {name}")
        assert future.result().results[0].successful, future.result().results[0].reason

    def steps_recorded(self) -> int:
        return int(self.diag.get("policy_node", {}).get("steps_recorded", 0))

    def ends(self, episode_id: str) -> list:
        return [e for e in self.events if e.episode_id == episode_id and e.event != "start"]

    def close(self) -> None:
        self.probe.close()
        self._thread.join(timeout=5)


class Rig:
    def __init__(self, robot: Robot, procs: dict[str, NodeProcess], url: str, buffer: Path, browser) -> None:
        self.robot, self.procs, self.url, self.buffer, self.browser = robot, procs, url, buffer, browser

    def logs(self) -> str:
        return "\n".join(f"== {k}\n{p.log()[-2500:]}" for k, p in self.procs.items())

    def open_page(self, operator: str = "ana"):
        return open_panel_page(self.browser, self.url, TOKEN, operator, self.logs)

    def episode_id(self, page) -> str:
        return page.inner_text("[data-testid=episode-id]")

    def start(self, page, how: str = "key") -> str:
        """Start an episode and wait until the policy recorded a step of it (a 0-step episode is not committed)."""
        before = self.episode_id(page)
        page.keyboard.press("s") if how == "key" else page.click("[data-testid=btn-start]")
        wait_until(lambda: self.episode_id(page) not in ("none", before), 10, "the started episode on the page",
                   self.logs)
        episode = self.episode_id(page)
        wait_until(lambda: page.inner_text("[data-testid=episode-status]") == "recording", 10,
                   "policy_node confirming the recording on the page", self.logs)
        steps = self.robot.steps_recorded()
        wait_until(lambda: self.robot.steps_recorded() > steps + 1, 15, "the policy recording steps", self.logs)
        return episode

    def end_event(self, episode_id: str, timeout: float = 10.0):
        wait_until(lambda: self.robot.ends(episode_id), timeout, f"the end event of {episode_id}", self.logs)
        return self.robot.ends(episode_id)[0]

    def count(self) -> int:
        return committed_episodes(self.buffer)

    def rows(self, n: int) -> list[dict]:
        """The episode table once it has at least ``n`` rows."""
        wait_until(lambda: self.count() >= n, 15, f"{n} committed episodes in the buffer", self.logs)
        return RolloutBuffer.open(self.buffer).episodes.to_dicts()

    def error(self, page) -> str:
        return page.inner_text("[data-testid=error]") if page.is_visible("[data-testid=error]") else ""


@pytest.fixture(scope="module")
def rig(tmp_path_factory, domain_id, node_logs):
    tmp = tmp_path_factory.mktemp("panel")
    data = load_spec("tabletop").to_dict()
    data["cameras"] = [{"name": "wrist", "height": 48, "width": 64}]
    spec = EmbodimentSpec.from_dict(data)
    spec.to_yaml(tmp / "spec.yaml")
    torch.manual_seed(0)
    save_policy(make_policy("tiny", spec, TINY), tmp / "ckpt")
    port = free_port()
    params = {
        "policy_node": {"ros__parameters": {
            "spec": str(tmp / "spec.yaml"), "checkpoint": str(tmp / "ckpt"), "device": "cpu", "replan_every": 1,
            "max_input_age_s": 0.5, "buffer_path": str(tmp / "rollouts.zarr"),
            "proprio_sources": ["eef_pos=ee_position", "eef_axis_angle=ee_axis_angle", "gripper=joints:gripper"]}},
        "action_executor": {"ros__parameters": {"spec": str(tmp / "spec.yaml"), "dry_run": True}},
        "success_label_node": {"ros__parameters": {
            "host": "0.0.0.0", "port": port, "token": TOKEN, "spec": str(tmp / "spec.yaml"), "jpeg_rate_hz": 10.0,
            "time_limit_s": TIME_LIMIT, "undo_window_s": UNDO, "contexts": ["pick_red/0", "pick_blue/1"],
            "instructions": ["pick_red=pick up the red cube", "pick_blue=pick up the blue cube"],
            "group_size": 2, "operator": "default-op"}},
    }
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    env = dict(ros_env(domain_id, large_data=False), OMP_NUM_THREADS="1")
    procs = {name: NodeProcess(name, ["--params-file", str(tmp / "params.yaml")], env, node_logs) for name in params}
    robot = Robot(Probe(domain_id, large_data=False))
    try:
        with chromium() as browser:
            r = Rig(robot, procs, f"http://127.0.0.1:{port}", tmp / "rollouts.zarr", browser)
            r.tmp, r.env, r.node_logs = tmp, env, node_logs
            wait_until(lambda: "policy_node" in robot.diag and "action_executor" in robot.diag, 60,
                       "policy_node and action_executor diagnostics", r.logs)
            r.page = r.open_page()
            yield r
    finally:
        for p in procs.values():
            p.stop()
        robot.close()


def test_page_loads_and_shows_the_camera_stream(rig):
    page = rig.page
    img = "[data-testid=camera-wrist]"
    wait_until(lambda: int(page.get_attribute(img, "data-frames") or 0) >= 3, 15, "camera frames on the page",
               rig.logs)
    assert page.get_attribute(img, "data-size") == "64x48"  # decoded frames of the camera's size
    jpeg = page.request.get(f"{rig.url}/camera/wrist.jpg?token={TOKEN}")
    assert jpeg.ok and jpeg.headers["content-type"] == "image/jpeg"
    pixels = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg.body(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.abs(pixels.reshape(-1, 3).mean(0) - RED).max() < 8  # what the camera sent, through JPEG
    assert page.request.get(f"{rig.url}/camera/nope.jpg?token={TOKEN}").status == 404
    assert page.inner_text("[data-testid=instruction]") == "pick up the red cube"
    assert page.inner_text("[data-testid=progress]") == "context 1 of 2, rollout 1 of 2"
    wait_until(lambda: page.inner_text("[data-testid=policy-version]") == "0", 10, "the policy version")
    beats = len(rig.robot.heartbeats)
    time.sleep(2.0)
    stamps = np.array(rig.robot.heartbeats[beats:])
    assert len(stamps) >= 5 and np.median(np.diff(stamps)) <= 0.2  # >= 5 Hz (10 Hz configured)


def test_keyboard_and_button_labels_reach_the_buffer(rig):
    page = rig.page
    first = rig.start(page, "key")
    page.keyboard.press("y")
    wait_until(lambda: "publishing in" in page.inner_text("[data-testid=last-label]"), 10, "the pending label")
    end = rig.end_event(first)
    assert (end.event, end.label_source, end.operator) == ("success", "operator", "ana") and end.stamp > 0
    second = rig.start(page, "button")
    page.click("[data-testid=btn-failure]")
    end2 = rig.end_event(second)
    assert end2.event == "failure"
    rows = rig.rows(2)[-2:]
    assert [r["reward"] for r in rows] == [1, 0]
    # The label time is the operator's judgement (the event's stamp), not its publication UNDO s later:
    # the policy recorded on through the undo window, so the last decision is at most ~UNDO after it
    # (plus the panel's 0.1 s tick and delivery; 1 s of slack for a loaded machine).
    assert [r["t_label"] for r in rows] == [end.stamp, end2.stamp]
    for r in rows:
        assert r["t_start"] < r["t_label"] and r["t_label"] > r["t_end"] - UNDO - 1.0, r
    assert {(r["label_source"], r["operator"], r["status"], r["context_id"]) for r in rows} == {
        ("operator", "ana", "ok", "pick_red/0")}
    assert rows[0]["group_id"] == rows[1]["group_id"] and all(r["step_count"] >= 1 for r in rows)
    assert rows[0]["instruction"] == "pick up the red cube"
    assert page.inner_text("[data-testid=progress]") == "context 2 of 2, rollout 1 of 2"  # K=2 done: next context


def test_undo_and_every_refusal_show_a_clear_error_and_change_nothing(rig):
    page = rig.page
    n = rig.count()
    episode = rig.start(page)
    page.keyboard.press("n")
    wait_until(lambda: page.inner_text("[data-testid=last-label]").startswith(f"failure · {episode}"), 10,
               "the pending failure")
    undone = page.request.get(f"{rig.url}/api/state?token={TOKEN}").json()["last_label"]
    assert (undone["episode_id"], undone["label"], undone["pending"]) == (episode, "failure", True)
    page.keyboard.press("u")
    wait_until(lambda: rig.episode_id(page) == episode, 10, "the episode running again after undo")
    assert page.is_enabled("[data-testid=btn-success]") and page.inner_text("[data-testid=last-label]") == "—"
    page.keyboard.press("y")
    page.keyboard.press("n")  # a second label for the same episode
    wait_until(lambda: "already labelled success" in rig.error(page), 10, "the double-label error")
    end = rig.end_event(episode)
    assert end.event == "success"
    time.sleep(0.5)
    assert [e.event for e in rig.robot.ends(episode)] == ["success"]  # the undone failure never went out
    row = rig.rows(n + 1)[n]
    assert row["reward"] == 1 and row["t_label"] == end.stamp > undone["stamp"]  # the new label's time
    page.keyboard.press("y")
    wait_until(lambda: "is already labelled success by ana; start the next" in rig.error(page), 10,
               "the label-without-episode error")
    page.keyboard.press("u")
    wait_until(lambda: "too late to undo" in rig.error(page), 10, "the too-late-to-undo error")

    aborted = rig.start(page)
    page.keyboard.press("a")
    assert rig.end_event(aborted).event == "abort"
    page.keyboard.press("y")
    wait_until(lambda: f"late success: episode '{aborted}' was aborted" in rig.error(page), 10, "the late-label error")

    reply = page.request.post(f"{rig.url}/api/command?token={TOKEN}", data=json.dumps({"command": "sucess"}),
                              headers={"Content-Type": "application/json"})
    assert reply.status == 400 and "unknown command 'sucess'" in reply.json()["error"]
    wait_until(lambda: "malformed command" in rig.error(page), 10, "the malformed-command error on the page")
    reply = page.request.post(f"{rig.url}/api/command?token={TOKEN}", data=json.dumps({"command": "success"}),
                              headers={"Content-Type": "application/json"})
    assert reply.status == 409 and not reply.json()["ok"]
    time.sleep(UNDO + 0.5)
    assert [e.event for e in rig.robot.ends(aborted)] == ["abort"]  # refusals published nothing
    rows = rig.rows(4)
    assert rows[-1]["status"] == "aborted" and rows[-1]["reward"] == 0 and rows[-2]["reward"] == 1


def test_the_time_limit_fails_the_episode(rig):
    page = rig.page
    rig.robot.set_float("time_limit_s", 5.0)
    try:
        state = page.request.get(f"{rig.url}/api/state?token={TOKEN}").json()
        assert state["episode"]["time_limit_s"] == 5.0  # changed at runtime
        n = rig.count()
        episode = rig.start(page)
        end = rig.end_event(episode, timeout=20)
        assert (end.event, end.timeout, end.label_source, end.operator) == ("failure", True, "operator", "ana")
        wait_until(lambda: "(time limit)" in page.inner_text("[data-testid=last-label]"), 10, "the timeout on the page")
        assert rig.rows(n + 1)[-1]["status"] == "timeout"
    finally:
        rig.robot.set_float("time_limit_s", TIME_LIMIT)


def test_two_pages_stay_consistent(rig):
    page, other = rig.page, rig.open_page(operator="bo")
    try:
        episode = rig.start(page)
        wait_until(lambda: rig.episode_id(other) == episode, 10, "the second page showing the episode")
        other.click("[data-testid=btn-success]")
        for p in (page, other):
            wait_until(lambda p=p: p.inner_text("[data-testid=last-label]").startswith(f"success · {episode} · bo"),
                       5, "both pages showing the label")
        assert rig.end_event(episode).operator == "bo"
        # After the label went out, both show the same next rollout (each push reaches every page).
        def shown(p) -> tuple[str, ...]:
            return tuple(p.inner_text(f"[data-testid={k}]") for k in ("progress", "episode-id", "last-label"))
        wait_until(lambda: shown(page) == shown(other) and "publishing" not in shown(page)[2], 10,
                   "both pages showing the same state")
    finally:
        other.close()


def test_missing_or_wrong_token_is_refused(rig):
    def status(url: str, **kw) -> int:
        try:
            return urllib.request.urlopen(urllib.request.Request(url, **kw), timeout=5).status
        except urllib.error.HTTPError as err:
            return err.code

    body = json.dumps({"command": "start"}).encode()
    post = {"data": body, "headers": {"Content-Type": "application/json"}, "method": "POST"}
    assert status(f"{rig.url}/") == 401
    assert status(f"{rig.url}/?token=wrong") == 401
    assert status(f"{rig.url}/api/state") == 401
    assert status(f"{rig.url}/camera/wrist.jpg?token=wrong") == 401
    assert status(f"{rig.url}/api/command", **post) == 401
    assert status(f"{rig.url}/api/state", headers={"Authorization": f"Bearer {TOKEN}"}) == 200
    assert status(f"{rig.url}/?token={TOKEN}") == 200

    async def ws(token: str) -> int:
        import aiohttp
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(f"{rig.url}/ws?token={token}") as conn:
                    await conn.close()
                    return 101
            except aiohttp.WSServerHandshakeError as err:
                return err.status
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        assert pool.submit(asyncio.run, ws("wrong")).result() == 401
        assert pool.submit(asyncio.run, ws(TOKEN)).result() == 101

    page = rig.browser.new_page()
    try:
        assert page.goto(f"{rig.url}/").status == 401 and "token" in page.inner_text("body")
    finally:
        page.close()

    # No token configured beyond loopback: one is generated, logged, and required. This panel also
    # beats only while a page is open (heartbeat_requires_page).
    node = NodeProcess("success_label_node", ["-p", "host:=0.0.0.0", "-p", "port:=0", "-p",
                                              "heartbeat_requires_page:=true", "-r", "__node:=panel_generated"],
                       rig.env, rig.node_logs)
    try:
        wait_until(lambda: "token generated" in node.log(), 30, "the generated token in the log", node.log)
        port, token = re.search(r"panel at http://0\.0\.0\.0:(\d+)/\?token=(\S+) \(token generated",
                                node.log()).groups()
        assert status(f"http://127.0.0.1:{port}/api/state") == 401
        assert status(f"http://127.0.0.1:{port}/api/state?token={token}") == 200
        wait_until(lambda: "panel_generated" in rig.robot.diag, 15, "the second panel's diagnostics", node.log)
        time.sleep(1.0)  # it reaches us (diagnostics) but, with no page open, does not beat
        assert "panel_generated" not in rig.robot.beating
        page = rig.browser.new_page()
        try:
            page.goto(f"http://127.0.0.1:{port}/?token={token}")
            wait_until(lambda: "panel_generated" in rig.robot.beating, 15, "heartbeats once a page is open", node.log)
        finally:
            page.close()
    finally:
        node.stop()


def test_a_schedule_drives_start_skip_and_the_reference_picture(rig):
    page = rig.page
    rig.robot.color = GREEN
    schedule = HwSchedule(cycle=2, policy_version=0, group_size=3, groups_needed=1, status="collecting", current=0,
                          groups=[HwGroup(group_id="c2-g0", context_id="pick_blue/4",
                                          instruction="pick up the blue cube", rollouts_done=1, state="collecting"),
                                  HwGroup(group_id="c2-g1", context_id="pick_red/4")])
    rig.robot.schedule_pub.publish(String(data=schedule.to_json()))
    wait_until(lambda: page.inner_text("[data-testid=progress]") == "context 1 of 2, rollout 2 of 3", 10,
               "the schedule's progress on the page", rig.logs)
    episode = rig.start(page)
    assert re.fullmatch(r"c2-g0-2-[0-9a-f]{6}", episode)
    start = next(e for e in rig.robot.events if e.episode_id == episode and e.event == "start")
    assert (start.context_id, start.group_id, start.instruction) == ("pick_blue/4", "c2-g0", "pick up the blue cube")
    assert page.inner_text("[data-testid=instruction]") == "pick up the blue cube"
    wait_until(lambda: page.evaluate("document.querySelector('[data-testid=reference]').naturalWidth") == 64, 10,
               "the reference picture")
    ref = page.request.get(f"{rig.url}/reference/c2-g0.jpg?token={TOKEN}")
    pixels = cv2.cvtColor(cv2.imdecode(np.frombuffer(ref.body(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.abs(pixels.reshape(-1, 3).mean(0) - GREEN).max() < 8
    page.keyboard.press("k")  # skip while running: refused
    wait_until(lambda: "label or abort it before skipping" in rig.error(page), 10, "the skip refusal")
    page.keyboard.press("a")
    rig.end_event(episode)
    page.keyboard.press("k")
    wait_until(lambda: rig.robot.requests, 10, "the skip request to hw-train")
    assert rig.robot.requests[0].model_dump() == {"request": "skip_context", "group_id": "c2-g0", "operator": "ana"}
    page.keyboard.press("s")
    wait_until(lambda: "skipping group 'c2-g0' was requested" in rig.error(page), 10, "start refused while skipping")


def test_estop_reaches_the_executor(rig):
    page = rig.page
    rig.robot.schedule_pub.publish(String(data=HwSchedule(
        group_size=2, status="collecting", current=0,
        groups=[HwGroup(group_id="c3-g0", context_id="pick_red/1", instruction="pick up the red cube")]).to_json()))
    wait_until(lambda: page.inner_text("[data-testid=progress]") == "context 1 of 1, rollout 1 of 2", 10,
               "the new schedule")
    n = rig.count()
    episode = rig.start(page)
    page.keyboard.press(" ")
    assert rig.end_event(episode).event == "estop"
    wait_until(lambda: True in rig.robot.estops, 10, "True on /robot_rl/estop")
    wait_until(lambda: rig.robot.diag.get("action_executor", {}).get("estop") == "True", 10,
               "the executor reporting the e-stop", rig.logs)
    wait_until(lambda: page.is_visible("[data-testid=estop-banner]"), 10, "the e-stop banner")
    assert page.is_disabled("[data-testid=btn-start]")
    page.keyboard.press("s")
    wait_until(lambda: "e-stop is latched" in rig.error(page), 10, "start refused during the e-stop")
    assert rig.rows(n + 1)[-1]["status"] == "estop"
    assert all(p.alive() for p in rig.procs.values()), rig.logs()
