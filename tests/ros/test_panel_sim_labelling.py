"""Operator labelling on the sim stand-in, in a real browser, as a new user would do it: sim_robot_node
(``auto_start: false``, ``report_success: false``), policy_node recording into a fresh buffer,
action_executor and success_label_node with two contexts of different tasks (no hw-train). The camera
streams before the first Start; S -> Y on the first context and Start -> Failure on the second land
in the buffer exactly as the page showed them (instruction, context, group, reward, operator, order),
the very first Start included; a start policy_node refuses (no checkpoint) is shown as refused and
cannot be labelled; the panel shuts down cleanly."""

from __future__ import annotations

import json
import time

import pytest
import torch
from panel_harness import (BROWSER_MARKS, SIM_SPEC, TINY, last_label, sim_panel_graph, start_and_wait_recording,
                           wait_until)

from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.policies import make_policy, save_policy
from robot_rl.spec import load_spec

pytestmark = BROWSER_MARKS

TOKEN = "sim-panel-token"
UNDO = 1.0


@pytest.fixture(scope="module")
def rig(tmp_path_factory, domain_id, node_logs):
    tmp = tmp_path_factory.mktemp("sim_panel")
    torch.manual_seed(0)
    save_policy(make_policy("tiny", load_spec(SIM_SPEC), TINY), tmp / "ckpt")
    with sim_panel_graph(tmp, domain_id, node_logs, tmp / "ckpt", TOKEN, UNDO) as r:
        yield r


def test_the_camera_streams_before_the_first_start(rig):
    page = rig.page
    img = "[data-testid=camera-agentview]"
    wait_until(lambda: int(page.get_attribute(img, "data-frames") or 0) >= 2, 20,
               "camera frames on the page before any Start", rig.logs)
    assert page.get_attribute(img, "data-size") == "64x64"
    for cam in load_spec(SIM_SPEC).camera_names:
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
