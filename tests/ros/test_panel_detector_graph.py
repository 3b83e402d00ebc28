"""The success detector on the operator panel, in a real browser: the sim stand-in graph of
test_panel_sim_labelling (sim_robot_node waiting for the panel, policy_node recording into a fresh
buffer, action_executor, success_label_node) with a detector built in the test with robot_rl.detector.
While the episode records, the page shows the detector's proposal and confidence; D accepts it, and the
buffer row has label_source detector_confirmed and the detector's probability. A plain N label keeps
source operator and still records the probability. In automatic mode a confident success labels
itself (source detector) after one Start."""

from __future__ import annotations

import math

import pytest
import torch
from panel_harness import (BROWSER_MARKS, SIM_SPEC, TINY, last_label, sim_label_params, sim_panel_graph,
                           start_and_wait_recording, wait_until)

from robot_rl.buffer import verify
from robot_rl.detector import DetectorConfig, SuccessDetector
from robot_rl.detector.calibration import Calibration
from robot_rl.detector.checkpoint import save_detector
from robot_rl.policies import make_policy, save_policy
from robot_rl.spec import load_spec

pytestmark = BROWSER_MARKS

TOKEN = "sim-panel-token"
UNDO = 1.0
BIAS = 3.0          # the detector's logit on every frame: confident success
TEMPERATURE = 1.5   # calibrated p = sigmoid(3 / 1.5) = 0.881
THRESHOLD = 0.85
P = 1.0 / (1.0 + math.exp(-BIAS / TEMPERATURE))


def _detector(path) -> None:
    """A small detector whose verdict is known: the head's last layer outputs BIAS whatever it sees
    (an untrained net's logit would sit near 0 and the panel would rightly stay unsure)."""
    torch.manual_seed(0)
    cfg = DetectorConfig.model_validate({"model": {"d_model": 16, "hidden": 16, "keypoints": 4}})
    det = SuccessDetector(load_spec(SIM_SPEC), cfg, Calibration(temperature=TEMPERATURE, threshold=THRESHOLD))
    last = det.net.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(BIAS)
    save_detector(det, path)


@pytest.fixture(scope="module")
def rig(tmp_path_factory, domain_id, node_logs):
    tmp = tmp_path_factory.mktemp("sim_panel_detector")
    torch.manual_seed(0)
    save_policy(make_policy("tiny", load_spec(SIM_SPEC), TINY), tmp / "ckpt")
    _detector(tmp / "detector")
    with sim_panel_graph(tmp, domain_id, node_logs, tmp / "ckpt", TOKEN, UNDO, detector=str(tmp / "detector"),
                         detector_rate_hz=4.0) as r:
        yield r


def test_the_operator_accepts_the_detector_proposal_with_one_key(rig):
    page = rig.page
    assert page.inner_text("[data-testid=detector]") == "—" and page.is_disabled("[data-testid=btn-accept]")
    first = start_and_wait_recording(rig, "key")
    wait_until(lambda: page.get_attribute("[data-testid=detector]", "data-proposal") == "success", 20,
               "the detector's proposal on the page", rig.logs)
    assert page.inner_text("[data-testid=detector]") == f"success (p {P:.2f}, confidence {P:.2f})"
    assert page.is_enabled("[data-testid=btn-accept]")
    page.keyboard.press("d")
    wait_until(lambda: last_label(page).startswith(f"success · {first['episode-id']} · ana · detector_confirmed"), 10,
               "the accepted label on the page")

    second = start_and_wait_recording(rig, "button")   # publishes the pending label first
    wait_until(lambda: page.get_attribute("[data-testid=detector]", "data-proposal") == "success", 20,
               "the proposal for the second episode", rig.logs)
    page.keyboard.press("n")                            # the operator disagrees: a plain operator label
    wait_until(lambda: last_label(page).startswith(f"failure · {second['episode-id']} · ana"), 10,
               "the operator's label on the page")

    rows = rig.rows(2)
    got = [(r["reward"], r["operator"], r["label_source"]) for r in rows]
    assert got == [(1, "ana", "detector_confirmed"), (0, "ana", "operator")]
    for r in rows:
        assert r["detector_p"] == pytest.approx(P, abs=1e-4)
    assert verify(rig.buffer) == []
    diag = rig.diag["success_label_node"]
    assert int(diag["detector_verdicts"]) >= 2 and float(diag["detector_latency_p99_ms"]) > 0


def test_automatic_mode_labels_a_confident_success_by_itself(rig):
    """The label node restarted with auto_label (no spot checks, no undo window): Start is the only press."""
    page = rig.page
    assert rig.procs["success_label_node"].stop() == 0
    rig.diag.pop("success_label_node", None)
    params = sim_label_params(rig, TOKEN, 0.0, detector=str(rig.tmp / "detector"), detector_rate_hz=4.0,
                              auto_label=True, auto_confirm_verdicts=2, spot_check_share=0.0)
    rig.start("success_label_node", params)
    rig.spin_until(lambda: "success_label_node" in rig.diag, 60, "the restarted panel's diagnostics")
    wait_until(lambda: page.inner_text("[data-testid=conn]") == "connected", 20, "the page reconnecting", rig.logs)
    n = len(rig.rows(2))
    page.keyboard.press("s")
    rows = rig.rows(n + 1)
    row = rows[n]
    assert (row["reward"], row["label_source"], row["operator"], row["status"]) == (1, "detector", "", "ok")
    assert row["detector_p"] == pytest.approx(P, abs=1e-4)
    wait_until(lambda: last_label(page).startswith("success · ") and "detector" in last_label(page), 10,
               "the automatic label on the page", rig.logs)
    rig.spin_until(lambda: rig.diag.get("success_label_node", {}).get("auto_labelled") == "1", 10,
                   "the automatic label counted in the diagnostics")
    assert verify(rig.buffer) == []


def test_the_panel_with_a_detector_shuts_down_cleanly(rig):
    label = rig.procs["success_label_node"]
    assert label.stop() == 0
    log = label.log_path.read_text()
    assert "success detector" in log
    for bad in ("Traceback", "Exception"):
        assert bad not in log, log[-3000:]
