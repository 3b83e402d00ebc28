"""Restarting the policy node and the operator panel in the middle of a hardware LOOP cycle.

The same graph as tests/ros/test_hw_train_e2e.py (whose rig and scripted HTTP operator this module
reuses): sim_robot_node (report_success false), policy_node recording into a buffer,
action_executor, success_label_node and `robot-rl hw-train` (K=2, one group per update, two
cycles), all real processes on default DDS transports. The test is the operator.

1. Cycle 0 runs to the update and the hot swap to policy version 1. In cycle 1 the operator skips
   the first context, starts a rollout, and the policy node is SIGKILLed while it acts. The
   interrupted episode is never committed (the restarted writer's repair drops it): the buffer
   keeps exactly the episodes it had. The node is restarted from its launch parameters, i.e. the
   ORIGINAL checkpoint (version 0): hw-train notices the version on /robot_rl/policy_version,
   goes back to ``deploying`` and puts version 1 back (set_parameters + reload), and collection
   goes on with version 1 episodes. The operator labelled the dead episode (a failure) instead of
   aborting it: nobody recorded that label, and the panel stops counting it once hw-train had
   time to (robot_rl.panel.machine.OWN_COUNT_HOLD_S), so the page re-opens rollout 1.
2. With one rollout of the group labelled and the next one running, the panel is SIGKILLed and
   restarted on the same port: the new page shows the same position ("context 2 of 2, rollout 2
   of 2", the skip included) from hw-train's schedule, i.e. from the buffer and the state file.
   Its Start closes the orphaned episode (recorded as ``aborted``, never used), the new rollout is
   labelled, and cycle 1 completes: the update to version 2 uses exactly the two usable version-1
   episodes of the group, and hw-train ends ``done``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ros_harness import NodeProcess
from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.panel.machine import OWN_COUNT_HOLD_S
from robot_rl.wire import topics
from test_hw_train_e2e import Rig, _collect, hw_graph

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SKIPPED, GROUP = "hw-c1-v1-d0", "hw-c1-v1-d1"   # cycle 1: the operator skips d0, collects d1


@pytest.fixture(scope="module")
def rig(tmp_path_factory, domain_id):
    # With the panel; two cycles. The launch parameters name the ORIGINAL checkpoint: a restarted node
    # comes back with version 0.
    with hw_graph(tmp_path_factory.mktemp("hw_restarts"), domain_id, True, cycles=2) as r:
        yield r


def _episodes(rig: Rig):
    return RolloutBuffer.open(rig.tmp / "rollouts.zarr").episodes


def _kill_and_restart(rig: Rig, exe: str) -> NodeProcess:
    """SIGKILL the node started through console script ``exe`` and start it again from its parameter file."""
    old = next(p for p in reversed(rig.procs) if p.proc.args[0].endswith(exe) and p.alive())
    old.proc.kill()
    assert old.proc.wait(timeout=10) == -9
    new = NodeProcess(exe, ["--params-file", str(rig.params[exe])], rig.env, rig.tmp)
    rig.procs.append(new)
    return new


def _page(rig: Rig) -> dict:
    """The panel's state ({} while it does not answer)."""
    return rig.operator.state() or {}


def _since_restart(rig: Rig) -> str:
    """hw-train's log from its report of the restarted policy node's version 0 on ('' before it)."""
    text = Path(rig.hw_logs[-1].name).read_text()
    at = text.find("policy node runs version 0", text.find("policy v1 is acting"))
    return text[at:] if at >= 0 else ""


def _start_acting(rig: Rig, *, committed: int | None = None) -> dict:
    """Start the next rollout on the panel and wait until the policy acts in it; returns the panel state.

    ``committed``: the buffer must reach this many episodes once the start arrives (a start that ends an
    orphaned episode commits it); acting alone does not prove the start arrived then, since the policy
    node still acts in the orphan. A start lost before DDS matched the publisher is aborted and redone,
    as an operator would when the robot does not move.
    """
    gid = rig.schedule.current_group.group_id
    rig.wait(lambda: rig.operator.shows(gid), 10, f"the panel showing group {gid}")  # as the operator waits
    for attempt in range(3):
        before = rig.chunks
        state = rig.operator.command("start")
        try:
            if committed is not None:
                rig.probe.spin_until(lambda: len(_episodes(rig)) >= committed, 15, "the orphan closed by the start")
            rig.probe.spin_until(lambda: rig.chunks >= before + 2, 20, "the policy acting")
            rig.probe.spin_until(rig.operator.recording, 10, "the panel showing the episode recorded")
            return state
        except AssertionError:
            if attempt == 2:
                raise AssertionError(f"the start never reached the policy node (3 starts)\n{rig.log()}") from None
            rig.operator.command("abort")
            rig.probe.spin_for(1.0)
    raise AssertionError("unreachable")


def test_policy_node_restart_mid_episode_is_redeployed(rig):
    rig.wait(lambda: rig.operator.ready(), 60, "the panel's HTTP server")
    rig.wait(lambda: rig.schedule is not None and rig.schedule.status == "collecting" and 0 in rig.versions, 90,
             "hw-train's first schedule and the policy node's version")
    n = rig.probe.node
    readers = lambda: {i.node_name for i in n.get_subscriptions_info_by_topic(topics.EPISODE_EVENT)}  # noqa: E731
    rig.wait(lambda: {"policy_node", "sim_robot", "hw_train"} <= readers(), 30, "the episode event readers")

    # Cycle 0: one success and one failure -> update -> policy v1 deployed.
    _collect(rig, "success")
    _collect(rig, "failure")
    rig.wait(lambda: 1 in rig.versions and rig.schedule.status == "collecting" and rig.schedule.policy_version == 1,
             90, "the update and hot swap to policy version 1")
    assert rig.schedule.cycle == 1 and rig.schedule.current_group.group_id == SKIPPED
    rig.wait(lambda: rig.operator.shows(SKIPPED), 10, f"the panel showing group {SKIPPED}")
    rig.operator.command("skip")
    rig.wait(lambda: rig.schedule.current == 1 and rig.schedule.current_group.group_id == GROUP, 20,
             f"hw-train skipping {SKIPPED}")

    # Rollout 1 of GROUP is running when the policy node dies.
    state = _start_acting(rig)
    assert state["episode"]["group_id"] == GROUP and state["episode"]["rollout"] == 1
    assert len(_episodes(rig)) == 2
    n_versions = len(rig.versions)
    policy = _kill_and_restart(rig, "policy_node")
    # The robot stopped; the operator labels it a failure rather than aborting it (the documented action).
    # Nobody records that label: the panel must not count it for good (it would wait for a K-th rollout
    # hw-train never counts).
    rig.operator.command("failure")

    # The restarted node loads its launch checkpoint (v0); hw-train puts v1 back before collecting again.
    rig.wait(lambda: "policy v1 is acting" in _since_restart(rig) and rig.schedule.status == "collecting", 60,
             "hw-train redeploying policy v1 to the restarted node")
    # The restarted node's report sent hw-train back to deploying (before: hw-train's first swap to v1). Its
    # log says so; the probe may miss the short deploying schedule (latched, depth 1).
    assert "schedule: deploying: deploying policy v1" in _since_restart(rig)
    rig.wait(lambda: len(rig.versions) > n_versions and rig.versions[-1] == 1, 20,
             "the restarted node reporting version 1")
    node_log = policy.log()
    assert "version 0 on" in node_log, node_log  # it really came back with the original checkpoint
    assert f"loaded {(rig.tmp / 'run' / 'policies' / 'v1').resolve()}: version 1" in node_log, node_log
    s = rig.schedule
    assert (s.cycle, s.policy_version, s.current) == (1, 1, 1)
    assert [(g.group_id, g.state, g.rollouts_done) for g in s.groups] == [(SKIPPED, "skipped", 0),
                                                                          (GROUP, "collecting", 0)]

    # The interrupted episode was never committed: the restarted writer repaired the store without it.
    t = _episodes(rig)
    assert list(t["group_id"]) == ["hw-c0-v0-d0"] * 2 and list(t["policy_version"]) == [0, 0]
    assert verify(rig.tmp / "rollouts.zarr") == []

    # Once hw-train had time to count the label and did not, the page re-opens rollout 1.
    rig.wait(lambda: _page(rig).get("progress_text") == "context 2 of 2, rollout 1 of 2",
             OWN_COUNT_HOLD_S + 10, "the panel dropping the label nobody recorded")
    # Collection goes on with version 1.
    _collect(rig, "success")
    rig.wait(lambda: _page(rig).get("progress_text") == "context 2 of 2, rollout 2 of 2", 10,
             "the panel counting the recorded rollout")
    t = _episodes(rig)
    assert list(t["group_id"])[2:] == [GROUP] and t["policy_version"][2] == 1 and t["status"][2] == "ok"
    assert t["reward"][2] == 1 and t["step_count"][2] >= 1


def test_panel_restart_mid_episode_keeps_the_schedule_position(rig):
    s = rig.schedule
    assert s.current_group.group_id == GROUP and s.current_group.rollouts_done == 1, s
    state = _start_acting(rig)  # rollout 2 of 2 is running when the panel dies
    assert state["progress_text"] == "context 2 of 2, rollout 2 of 2" and state["episode"]["active"]
    n_before = len(_episodes(rig))
    assert n_before == 3

    _kill_and_restart(rig, "success_label_node")
    rig.wait(lambda: _page(rig).get("schedule") is not None and _page(rig).get("policy_version") == 1, 60,
             "the restarted panel's schedule and version")
    page = _page(rig)
    # The same position, rebuilt from hw-train's schedule (buffer + state file: the skip included).
    assert page["progress_text"] == "context 2 of 2, rollout 2 of 2", page
    assert page["group_id"] == GROUP and not page["episode"]["active"]
    assert [(g["group_id"], g["state"], g["rollouts_done"]) for g in page["schedule"]["groups"]] == [
        (SKIPPED, "skipped", 0), (GROUP, "collecting", 1)]

    # Labelling goes on: Start ends the orphaned episode (committed as aborted, never used).
    state = _start_acting(rig, committed=n_before + 1)
    assert state["episode"]["group_id"] == GROUP and state["episode"]["rollout"] == 2
    rig.operator.command("failure")
    rig.wait(lambda: 2 in rig.versions and rig.schedule.status == "done", 120,
             "cycle 1's update, the hot swap to policy version 2 and hw-train done")

    t = _episodes(rig)
    usable = [i for i, st in enumerate(t["status"]) if st == "ok"]
    rows = [(str(t["group_id"][i]), int(t["policy_version"][i]), int(t["reward"][i])) for i in usable]
    assert rows == [("hw-c0-v0-d0", 0, 1), ("hw-c0-v0-d0", 0, 0), (GROUP, 1, 1), (GROUP, 1, 0)], rows
    orphan = n_before  # committed when the restarted panel's start arrived
    assert (t["status"][orphan], t["group_id"][orphan], t["policy_version"][orphan]) == ("aborted", GROUP, 1)
    assert t["reward"][orphan] == 0 and t["step_count"][orphan] >= 1 and math.isnan(t["t_label"][orphan])
    assert set(t["status"]) == {"ok", "aborted"} and len(t) - len(usable) >= 1
    assert verify(rig.tmp / "rollouts.zarr") == []

    run = rig.tmp / "run"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2
    assert (metrics[1]["rollout/groups"], metrics[1]["rollout/skipped_groups"]) == (1.0, 1.0)
    assert metrics[1]["charts/train_success_rate"] == 0.5 and metrics[1]["charts/policy_version"] == 1.0
    assert metrics[1]["rollout/effective_batch_size"] == 2.0  # the orphan (aborted) is not in the update
    state = json.loads((run / "hw_state.json").read_text())
    assert (state["cycle"], state["policy_version"]) == (2, 2)
    assert [h["groups"] for h in state["history"]] == [["hw-c0-v0-d0"], [GROUP]]
    assert json.loads((run / "policies" / "v2" / "config.json").read_text())["version"] == 2
    assert np.array_equal(t["policy_version"][usable], [0, 0, 1, 1])
