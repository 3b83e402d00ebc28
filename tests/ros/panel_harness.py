"""The operator panel's test rigs, shared by the panel tests (test_panel_sim_labelling,
test_panel_detector_graph, test_label_panel, test_label_estop, test_hw_train_e2e/_restarts): parameter
files from launch/config, a free port, waiting with the node logs on failure, diagnostics by node,
the browser page an operator opens, and the sim stand-in graph with the panel (:class:`SimPanelRig`).

A uniquely named module (several test folders have a conftest.py); Playwright is imported only by
:func:`chromium` so that tests without a browser import this file without it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray

from ros_harness import ROOT, NodeProcess, Probe, ros_env
from robot_rl.buffer import RolloutBuffer
from robot_rl.config import load_yaml
from robot_rl.wire import topics
from ros_nodes import qos

CHROMIUM = Path("/usr/bin/chromium")
# pytestmark of a module that drives the panel in a browser
BROWSER_MARKS = [pytest.mark.ros, pytest.mark.slow,
                 pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the Debian chromium package (scripts/setup.sh)")]
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}
SIM_SPEC = "tabletop_64"
INSTRUCTIONS = {"pick_red": "pick up the red cube", "pick_blue": "pick up the blue cube"}


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str] = lambda: "") -> None:
    """Poll ``predicate`` (no spinning: for state other threads fill); fail with ``logs()`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs()}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_params(src: str, node: str, **updates: Any) -> dict:
    """A launch/config parameter file's section for ``node`` with ``updates`` applied."""
    data = load_yaml(ROOT / "launch" / "config" / src)
    data[node]["ros__parameters"].update(updates)
    return {node: data[node]}


def listen_diagnostics(node) -> dict[str, dict[str, str]]:
    """Subscribe ``node`` to /diagnostics; the returned dict fills with ``{node name: {key: value}}``."""
    diag: dict[str, dict[str, str]] = {}

    def on_diag(msg: DiagnosticArray) -> None:
        for s in msg.status:
            diag.setdefault(s.name.split(":")[0], {}).update({kv.key: kv.value for kv in s.values})

    node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, qos.RELIABLE)
    return diag


def committed_episodes(buffer: Path) -> int:
    try:
        return RolloutBuffer.open(buffer).num_episodes
    except Exception:  # noqa: BLE001 - the policy node has not created the buffer yet
        return 0


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian chromium driven by Playwright (never `playwright install`)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    pw = playwright_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


def open_panel_page(browser, url: str, token: str, operator: str, logs: Callable[[], str], timeout: float = 15.0):
    """The page an operator opens: connected, operator id typed in, focus off the text field."""
    page = browser.new_page()
    page.goto(f"{url}/?token={token}")
    wait_until(lambda: page.inner_text("[data-testid=conn]") == "connected", timeout, "the page's WebSocket", logs)
    page.fill("[data-testid=operator]", operator)
    page.evaluate("document.activeElement.blur()")  # shortcuts are ignored while typing the operator id
    return page


def last_label(page) -> str:
    return page.inner_text("[data-testid=last-label]")


class SimPanelRig:
    """Nodes started from parameter dicts, the test's probe with diagnostics, the buffer they record to."""

    def __init__(self, tmp: Path, domain_id: int, logs: Path) -> None:
        self.tmp, self.logs_dir = tmp, logs
        self.env = dict(ros_env(domain_id, large_data=False), OMP_NUM_THREADS="1")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.buffer = tmp / "rollouts.zarr"
        self.procs: dict[str, NodeProcess] = {}
        self.probe = Probe(domain_id, large_data=False)
        self.diag = listen_diagnostics(self.probe.node)

    def start(self, name: str, params: dict) -> NodeProcess:
        path = self.tmp / f"params-{name}-{len(list(self.tmp.glob(f'params-{name}-*')))}.yaml"
        path.write_text(yaml.safe_dump(params))
        self.procs[name] = NodeProcess(name, ["--params-file", str(path)], self.env, self.logs_dir)
        return self.procs[name]

    def logs(self) -> str:
        return "\n".join(f"== {k}\n{p.log_path.read_text()[-2500:]}" for k, p in self.procs.items())

    def spin_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> None:
        try:
            self.probe.spin_until(predicate, timeout, what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.logs()}") from None

    def rows(self, n: int) -> list[dict]:
        """The episode table once it has at least ``n`` rows."""
        self.spin_until(lambda: committed_episodes(self.buffer) >= n, 20, f"{n} committed episodes in the buffer")
        return RolloutBuffer.open(self.buffer).episodes.to_dicts()

    def steps(self) -> int:
        return int(self.diag.get("policy_node", {}).get("steps_recorded", 0))


def sim_label_params(rig: SimPanelRig, token: str, undo_s: float, **extra: Any) -> dict:
    """success_label_node on the sim stand-in: two contexts of different tasks, one rollout each."""
    return node_params("label.yaml", "success_label_node", port=rig.port, token=token, spec=SIM_SPEC,
                       undo_window_s=undo_s, time_limit_s=0.0, jpeg_rate_hz=5.0, contexts=["pick_red/0", "pick_blue/1"],
                       group_size=1, instructions=[f"{k}={v}" for k, v in INSTRUCTIONS.items()], **extra)


@contextmanager
def sim_panel_graph(tmp: Path, domain_id: int, node_logs: Path, checkpoint: Path, token: str, undo_s: float,
                    **label_extra: Any) -> Iterator[SimPanelRig]:
    """The graph a new user runs for labelling, with a connected page (``rig.page``, operator "ana").

    sim_robot_node waits for the panel (``auto_start: false``) and lets the operator judge
    (``report_success: false``); policy_node records into a fresh buffer; action_executor;
    success_label_node with :func:`sim_label_params` plus ``label_extra``.
    """
    r = SimPanelRig(tmp, domain_id, node_logs)
    r.policy_params = node_params("policy.yaml", "policy_node", spec=SIM_SPEC, checkpoint=str(checkpoint),
                                  device="cpu", buffer_path=str(r.buffer), replan_every=2)
    r.start("sim_robot_node", node_params("sim_robot.yaml", "sim_robot", suite_options=json.dumps({"spec": SIM_SPEC}),
                                          auto_start=False, report_success=False, max_steps=30, camera_rate_hz=15.0))
    r.start("policy_node", r.policy_params)
    r.start("action_executor", node_params("executor_sim.yaml", "action_executor", spec=SIM_SPEC))
    r.start("success_label_node", sim_label_params(r, token, undo_s, **label_extra))
    try:
        with chromium() as r.browser:
            r.spin_until(lambda: {"policy_node", "action_executor", "sim_robot", "success_label_node"} <= set(r.diag),
                         90, "every node's diagnostics")
            r.page = open_panel_page(r.browser, r.url, token, "ana", r.logs, timeout=20)
            yield r
    finally:
        for p in r.procs.values():
            p.stop()
        r.probe.close()


def shown(page) -> dict[str, str]:
    """What the page shows of the current episode."""
    return {k: page.inner_text(f"[data-testid={k}]")
            for k in ("instruction", "context", "group", "episode-id", "episode-status", "progress")}


def start_and_wait_recording(rig: SimPanelRig, how: str) -> dict[str, str]:
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
