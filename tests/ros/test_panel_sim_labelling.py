"""Operator labelling on the sim stand-in, in a real browser, as a new user would do it: sim_robot_node
(``auto_start: false``, ``report_success: false``), policy_node recording into a fresh buffer,
action_executor and success_label_node with two contexts of different tasks (no hw-train). The camera
streams before the first Start; S -> Y on the first context and Start -> Failure on the second land
in the buffer exactly as the page showed them (instruction, context, group, reward, operator, order),
the very first Start included; a start policy_node refuses (no checkpoint) is shown as refused and
cannot be labelled; the panel shuts down cleanly."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import torch
import yaml
from diagnostic_msgs.msg import DiagnosticArray

from ros_harness import ROOT, NodeProcess, Probe, ros_env
from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.policies import make_policy, save_policy
from robot_rl.wire import topics
from robot_rl.spec import load_spec
from ros_nodes import qos

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.ros, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the Debian chromium package (scripts/setup.sh)")]

SPEC = "tabletop_64"
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}
TOKEN = "sim-panel-token"
INSTRUCTIONS = {"pick_red": "pick up the red cube", "pick_blue": "pick up the blue cube"}
UNDO = 1.0


def wait_until(predicate, timeout: float, what: str, logs=lambda: "") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs()}")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _params(src: str, node: str, **updates) -> dict:
    """A launch/config parameter file's section for ``node`` with ``updates`` applied."""
    data = yaml.safe_load((ROOT / "launch" / "config" / src).read_text())
    data[node]["ros__parameters"].update(updates)
    return {node: data[node]}


class Rig:
    def __init__(self, tmp: Path, domain_id: int, logs: Path) -> None:
        self.tmp, self.logs_dir = tmp, logs
        self.env = dict(ros_env(domain_id, large_data=False), OMP_NUM_THREADS="1")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.buffer = tmp / "rollouts.zarr"
        self.procs: dict[str, NodeProcess] = {}
        self.diag: dict[str, dict[str, str]] = {}
        self.probe = Probe(domain_id, large_data=False)
        self.probe.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, qos.RELIABLE)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for s in msg.status:
            self.diag[s.name.split(":")[0]] = {kv.key: kv.value for kv in s.values}

    def start(self, name: str, params: dict) -> NodeProcess:
        path = self.tmp / f"params-{name}-{len(list(self.tmp.glob(f'params-{name}-*')))}.yaml"
        path.write_text(yaml.safe_dump(params))
        self.procs[name] = NodeProcess(name, ["--params-file", str(path)], self.env, self.logs_dir)
        return self.procs[name]

    def logs(self) -> str:
        return "\n".join(f"== {k}\n{p.log_path.read_text()[-2500:]}" for k, p in self.procs.items())

    def spin_until(self, predicate, timeout: float, what: str) -> None:
        try:
            self.probe.spin_until(predicate, timeout, what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.logs()}") from None

    def rows(self, n: int) -> list[dict]:
        def count() -> int:
            try:
                return RolloutBuffer.open(self.buffer).num_episodes
            except Exception:  # noqa: BLE001 - not created yet
                return 0
        self.spin_until(lambda: count() >= n, 20, f"{n} committed episodes in the buffer")
        return RolloutBuffer.open(self.buffer).episodes.to_dicts()

    def steps(self) -> int:
        return int(self.diag.get("policy_node", {}).get("steps_recorded", 0))


@pytest.fixture(scope="module")
def rig(tmp_path_factory, domain_id, node_logs):
    tmp = tmp_path_factory.mktemp("sim_panel")
    torch.manual_seed(0)
    save_policy(make_policy("tiny", load_spec(SPEC), TINY), tmp / "ckpt")
    r = Rig(tmp, domain_id, node_logs)
    r.policy_params = _params("policy.yaml", "policy_node", spec=SPEC, checkpoint=str(tmp / "ckpt"), device="cpu",
                              buffer_path=str(r.buffer), replan_every=2)
    # The graph a new user runs for plain labelling: the stand-in waits for the panel and lets the operator judge.
    r.start("sim_robot_node", _params("sim_robot.yaml", "sim_robot", suite_options=json.dumps({"spec": SPEC}),
                                      auto_start=False, report_success=False, max_steps=30, camera_rate_hz=15.0))
    r.start("policy_node", r.policy_params)
    r.start("action_executor", _params("executor_sim.yaml", "action_executor", spec=SPEC))
    r.start("success_label_node", _params(
        "label.yaml", "success_label_node", port=r.port, token=TOKEN, spec=SPEC, undo_window_s=UNDO,
        time_limit_s=0.0, jpeg_rate_hz=5.0, contexts=["pick_red/0", "pick_blue/1"], group_size=1,
        instructions=[f"{k}={v}" for k, v in INSTRUCTIONS.items()]))
    pw = playwright_api.sync_playwright().start()
    r.browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
    try:
        r.spin_until(lambda: {"policy_node", "action_executor", "sim_robot", "success_label_node"} <= set(r.diag), 90,
                     "every node's diagnostics")
        r.page = r.browser.new_page()
        r.page.goto(f"{r.url}/?token={TOKEN}")
        wait_until(lambda: r.page.inner_text("[data-testid=conn]") == "connected", 20, "the page's WebSocket", r.logs)
        r.page.fill("[data-testid=operator]", "ana")
        r.page.evaluate("document.activeElement.blur()")
        yield r
    finally:
        r.browser.close()
        pw.stop()
        for p in r.procs.values():
            p.stop()
        r.probe.close()


def shown(page) -> dict[str, str]:
    return {k: page.inner_text(f"[data-testid={k}]")
            for k in ("instruction", "context", "group", "episode-id", "episode-status", "progress")}


def last_label(page) -> str:
    return page.inner_text("[data-testid=last-label]")


def start_and_wait_recording(rig: Rig, how: str) -> dict[str, str]:
    """Press Start, wait until the page says recording and the policy recorded steps; what the page shows."""
    page = rig.page
    before = page.inner_text("[data-testid=episode-id]")
    page.keyboard.press("s") if how == "key" else page.click("[data-testid=btn-start]")
    wait_until(lambda: page.inner_text("[data-testid=episode-id]") not in ("none", before), 10,
               "the started episode on the page", rig.logs)
    wait_until(lambda: page.inner_text("[data-testid=episode-status]") == "recording", 15,
               "policy_node confirming the recording", rig.logs)
    assert page.is_enabled("[data-testid=btn-success]") and page.is_enabled("[data-testid=btn-failure]")
    steps = rig.steps()
    rig.spin_until(lambda: rig.steps() >= steps + 2, 30, "the policy recording steps")
    return shown(page)


def test_the_camera_streams_before_the_first_start(rig):
    page = rig.page
    img = "[data-testid=camera-agentview]"
    wait_until(lambda: int(page.get_attribute(img, "data-frames") or 0) >= 2, 20,
               "camera frames on the page before any Start", rig.logs)
    assert page.get_attribute(img, "data-size") == "64x64"
    for cam in load_spec(SPEC).camera_names:
        jpeg = page.request.get(f"{rig.url}/camera/{cam}.jpg?token={TOKEN}")
        assert jpeg.ok and jpeg.headers["content-type"] == "image/jpeg", cam
    assert page.inner_text("[data-testid=episode-id]") == "none"  # nothing started yet
    # What Start opens, with its instruction, before the first Start.
    assert (page.inner_text("[data-testid=instruction]"), page.inner_text("[data-testid=context]")) == (
        "pick up the red cube", "pick_red/0")
    assert page.is_disabled("[data-testid=btn-success]") and page.is_disabled("[data-testid=btn-failure]")


def test_labels_land_in_the_buffer_exactly_as_the_page_showed_them(rig):
    page = rig.page
    first = start_and_wait_recording(rig, "key")          # the very first Start of this graph
    page.keyboard.press("y")
    wait_until(lambda: last_label(page).startswith(f"success · {first['episode-id']} · ana"), 10,
               "the success label on the page")
    second = start_and_wait_recording(rig, "button")      # publishes the pending success first
    page.click("[data-testid=btn-failure]")
    wait_until(lambda: last_label(page).startswith(f"failure · {second['episode-id']} · ana"), 10,
               "the failure label on the page")
    assert (first["context"], first["instruction"]) == ("pick_red/0", "pick up the red cube")
    assert (second["context"], second["instruction"]) == ("pick_blue/1", "pick up the blue cube")
    assert first["group"] != second["group"]

    rows = rig.rows(2)
    got = [(r["instruction"], r["context_id"], r["group_id"], r["reward"], r["operator"], r["label_source"],
            r["status"]) for r in rows]
    assert got == [(first["instruction"], first["context"], first["group"], 1, "ana", "operator", "ok"),
                   (second["instruction"], second["context"], second["group"], 0, "ana", "operator", "ok")]
    assert [r["task"] for r in rows] == ["pick_red", "pick_blue"] and all(r["step_count"] >= 2 for r in rows)
    assert verify(rig.buffer) == []


def test_a_refused_start_shows_refused_and_cannot_be_labelled(rig):
    page = rig.page
    n = len(rig.rows(2))
    # The policy node comes back without a checkpoint: it refuses every start.
    assert rig.procs["policy_node"].stop() == 0
    rig.diag.pop("policy_node", None)
    no_policy = json.loads(json.dumps(rig.policy_params))
    no_policy["policy_node"]["ros__parameters"]["checkpoint"] = ""
    rig.start("policy_node", no_policy)
    rig.spin_until(lambda: rig.diag.get("policy_node", {}).get("policy_version") == "-1", 60,
                   "the restarted policy node without a policy")
    wait_until(lambda: page.inner_text("[data-testid=policy-version]") == "none", 10, "no policy on the page")
    page.keyboard.press("s")
    wait_until(lambda: page.get_attribute("[data-testid=episode-status]", "data-ack") == "refused", 15,
               "the refused start on the page", rig.logs)
    status = page.inner_text("[data-testid=episode-status]")
    assert status.startswith("REFUSED: start of ") and "no policy loaded" in status, status
    refused_id = status.split()[3]
    assert "REFUSED by policy_node: " in page.inner_text("[data-testid=error]")
    assert page.inner_text("[data-testid=episode-id]") == "none"
    assert page.is_disabled("[data-testid=btn-success]") and page.is_disabled("[data-testid=btn-failure]")
    page.keyboard.press("y")  # the key does nothing but say why
    wait_until(lambda: "policy_node refused the start of" in page.inner_text("[data-testid=error]"), 10,
               "the refused label's reason on the page")
    reply = page.request.post(f"{rig.url}/api/command?token={TOKEN}", headers={"Content-Type": "application/json"},
                              data=json.dumps({"command": "success", "operator": "ana", "episode_id": refused_id}))
    assert reply.status == 409 and "was not recorded: policy_node refused its start (" in reply.json()["error"]
    assert "no policy loaded" in reply.json()["error"]
    time.sleep(UNDO + 1.0)
    assert RolloutBuffer.open(rig.buffer).num_episodes == n  # nothing reached the buffer


def test_the_panel_shuts_down_cleanly(rig):
    label = rig.procs["success_label_node"]
    assert label.stop() == 0  # with a page connected (its WebSocket closes)
    log = label.log_path.read_text()
    assert "operator panel at" in log
    for bad in ("Task was destroyed but it is pending", "Traceback", "Exception"):
        assert bad not in log, log[-3000:]
