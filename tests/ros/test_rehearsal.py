"""A shrunken `robot-rl rehearse` over real DDS: the whole rehearsal's mechanics in one run.

Tiny random policy (made here), the `lab` stand-in at 2x sim-time speed, K=2, one group per
update, two updates, one held-out context per task. The
scripted operator drives the panel over HTTP with its token. A random policy never succeeds in
six steps, so the operator mislabels at rate 0.5 with a seed whose flips make every group mixed:
groups then carry signal and hw-train updates (its labels still derive from the stand-in's
verdicts, and the test checks each one against the operator's record of the truth).

Checked: the operator's labels reach the buffer (label source operator, its operator id, reward =
truth flipped exactly where the operator's log says it mislabelled); the policy version swaps
(episodes of v0 and v1); every node runs on /clock (use_sim_time set, stamps in sim seconds); the
stand-in killed after the first update ends the run with a clear message, and the same command
resumes to the next update and finishes the report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from rcl_interfaces.srv import GetParameters

from ros_harness import ROOT, Probe
from robot_rl.buffer import RolloutBuffer
from robot_rl.policies import make_policy, save_policy
from robot_rl.spec import load_spec

pytestmark = [pytest.mark.ros, pytest.mark.slow]

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}
SUITE_OPTIONS = {"spec": "tabletop_64", "max_steps": 6}
FLIP_SEED = 3  # random.Random(3): flips T,F,T,F,F,T,... -> each pair of all-failure rollouts is mixed
NODES = ["policy_node", "action_executor", "success_label_node", "rehearsal_operator", "hw_train"]


def _configs(tmp, domain_id: int):
    torch.manual_seed(0)
    save_policy(make_policy("tiny", load_spec("tabletop_64"), TINY), tmp / "v0")
    cfg = {"checkpoint": str(tmp / "v0"), "quickstart_config": "", "suite": "tabletop", "suite_options": SUITE_OPTIONS,
           "spec": "tabletop_64", "tasks": ["pick_red", "pick_blue"],
           "reality": {"profile": "lab", "seed": 0},
           "hw": {"contexts_per_task": 1, "group_size": 2, "groups_needed": 1, "max_attempts": 6, "updates": 2,
                  "eval_every": 2, "loop": {"ppo_epochs": 1, "minibatch_size": 64, "lr_head": 1e-3,
                                            "lr_backbone": 1e-4, "temperature": 1.0}},
           "eval": {"contexts_per_task": 1, "sim_workers": 1},
           "operator": {"operator_id": "robo-ana", "reaction_delay_s": 0.2, "reaction_jitter_s": 0.0,
                        "mislabel_rate": 0.5, "reset_s": 0.5, "seed": FLIP_SEED},
           # Spec-sized frames without LARGE_DATA: discovery is seconds faster per graph (4 graphs start here);
           # the 640x480 driver path is tested in test_sim_robot_rehearsal.py.
           "graph": {"clock_speed": 2.0, "camera_rate_hz": 10.0, "camera_width": 0, "camera_height": 0,
                     "large_data": False, "domain_id": domain_id, "startup_timeout_s": 60.0, "stall_timeout_s": 60.0},
           # The baseline (`robot-rl train`, ~45 s here) is left out to keep this test short; its command is
           # checked in tests/rehearsal/test_rehearsal_baseline.py.
           "baseline": {"enabled": False}}
    (tmp / "rehearsal.yaml").write_text(yaml.safe_dump(cfg))
    return tmp / "rehearsal.yaml"


def _rehearse(config, out, log):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", "robot_rl.cli", "rehearse", str(config), "--out", str(out)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _use_sim_time(probe: Probe, node: str) -> bool | None:
    client = probe.node.create_client(GetParameters, f"/{node}/get_parameters")
    try:
        if not client.wait_for_service(timeout_sec=0.1):
            return None
        future = client.call_async(GetParameters.Request(names=["use_sim_time"]))
        probe.spin_until(future.done, 10, f"{node}'s parameters")
        return future.result().values[0].bool_value
    finally:
        probe.node.destroy_client(client)


def test_shrunken_rehearsal_resumes_after_the_stand_in_dies(tmp_path, domain_id):
    config, out = _configs(tmp_path, domain_id), tmp_path / "out"
    t0 = time.monotonic()
    log1 = (tmp_path / "rehearse-1.log").open("w")
    proc = _rehearse(config, out, log1)
    probe = Probe(domain_id, large_data=False)
    sim_time: dict[str, bool] = {}

    def text1() -> str:
        return (tmp_path / "rehearse-1.log").read_text()

    try:
        # While hw-train runs: every node of the training graph runs on /clock.
        # After the first update, kill the stand-in.
        deadline = time.monotonic() + 150
        state = out / "hw" / "hw_state.json"
        while not (state.is_file() and any(h.get("update") for h in json.loads(state.read_text())["history"])):
            assert proc.poll() is None, text1()
            assert time.monotonic() < deadline, "no first update in 150 s:\n" + text1()
            for node in NODES:
                if node not in sim_time:
                    value = _use_sim_time(probe, node)
                    if value is not None:
                        sim_time[node] = value
            probe.spin_for(0.3)
        pids = json.loads((out / "logs" / "pids.json").read_text())
        os.kill(pids["sim_robot_node"], signal.SIGKILL)
        assert proc.wait(timeout=60) == 2
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=30)
        probe.close()
        log1.close()
    text = (tmp_path / "rehearse-1.log").read_text()
    assert "the lab stand-in (sim_robot_node) exited with code -9" in text, text
    assert f"robot-rl rehearse {config} --out {out}` again to resume" in text, text
    assert sim_time == {n: True for n in NODES}, sim_time

    # The same command resumes: hw-train goes on to update 2, then the held-out measurement, baseline, report.
    with (tmp_path / "rehearse-2.log").open("w") as log2:
        proc = _rehearse(config, out, log2)
        rc = proc.wait(timeout=240)
    text = (tmp_path / "rehearse-2.log").read_text()
    assert rc == 0, text
    s = json.loads((out / "summary.json").read_text())
    assert s["updates"] == 2 and [c["updates"] for c in s["curve"]] == [0, 2]
    for key in ("success_sim", "success_lab_inproc", "success_lab_before", "success_lab_after"):
        assert 0.0 <= s[key] <= 1.0, (key, s)
    assert s["baseline"] is None
    assert s["labelled_episodes"] >= 4 and s["operator_minutes"] > 0 and s["sim_speed_up"] > 0
    assert (out / "rehearsal.png").stat().st_size > 5000

    # The operator's labels reached the buffer through the panel and the policy node, and nothing else did.
    t = RolloutBuffer.open(out / "rollouts.zarr").episodes
    assert set(t["label_source"]) == {"operator"} and set(t["operator"]) == {"robo-ana"}
    assert {0, 1} <= set(int(v) for v in t["policy_version"]), t["policy_version"]   # the policy swapped
    records = [json.loads(line) for line in (out / "operator.jsonl").read_text().splitlines()]
    checked = 0
    for group, reward, t_label in zip(t["group_id"], t["reward"], t["t_label"]):
        # The buffer has no episode id: the operator's record is the one of this group labelled at that sim time
        # (the panel stamps the label when the operator presses it).
        near = [r for r in records if r["group_id"] == group and r["t_label"] is not None
                and abs(r["t_label"] - t_label) < 0.5 and r["truth"] is not None]
        if not near:
            continue  # labelled just as the stand-in died: its record was never written
        rec = min(near, key=lambda r: abs(r["t_label"] - t_label))
        assert rec["label"] == ("success" if reward else "failure"), (rec, reward)
        assert bool(reward) == (rec["truth"] != rec["mislabelled"]), rec
        checked += 1
    assert checked >= 4
    # Sim time: the policy node's and the panel's stamps are sim seconds from the stand-in's /clock, not epoch.
    assert np.all(t["t_start"] < 1e6) and np.all(t["t_label"] < 1e6), (t["t_start"], t["t_label"])
    assert all(r["t_start"] < 1e6 for r in records)
    print(f"shrunken rehearsal: {time.monotonic() - t0:.0f} s wall, summary {s}")
