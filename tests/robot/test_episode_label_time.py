"""Label times from the operator panel to the rollout buffer: the panel's state machine makes the
end events, the policy node's EpisodeBook commits them into a real store, and ``t_label`` holds
the moment the operator judged (docs/panel.md), not the moment the label was published."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.panel import PanelCommand, PanelMachine
from robot_rl.robot.episodes import EpisodeBook, EventRejected
from robot_rl.wire.episode_event import EpisodeEvent
from robot_rl.ros_config.label import LabelNodeConfig
from robot_rl.spec import EmbodimentSpec, load_spec

UNDO_S = 3.0
STEP_S = 0.5  # one policy decision every half second in these scripted episodes


@pytest.fixture(scope="module")
def tiny_spec() -> EmbodimentSpec:
    data = load_spec("tabletop").to_dict()
    data["cameras"] = [{"name": "agentview", "height": 8, "width": 8}]
    return EmbodimentSpec.from_dict(data)


class Rig:
    """Panel machine -> episode events -> EpisodeBook -> buffer, on a scripted clock."""

    def __init__(self, path, spec: EmbodimentSpec, time_limit_s: float = 60.0) -> None:
        counter = itertools.count(1)
        self.spec = spec
        self.machine = PanelMachine(LabelNodeConfig(undo_window_s=UNDO_S, time_limit_s=time_limit_s,
                                                    contexts=["pick_red/0"],
                                                    instructions=["pick_red=pick up the red cube"]),
                                    unique=lambda: f"u{next(counter)}", session="s")
        self.buffer = RolloutBuffer.create(path, spec)
        self.book = EpisodeBook(self.buffer)
        self.now = 0.0

    def deliver(self, out) -> None:
        for event in out.events:  # what the label node publishes, as the policy node receives it
            refusal = ""
            try:
                self.book.on_event(event, "", policy_version=1)
            except EventRejected as err:
                refusal = str(err)
            if event.event == "start":  # ... and its answer, as the panel receives it
                self.machine.on_ack(self.book.ack(event, refusal, self.now), self.now)

    def press(self, command: str) -> None:
        self.deliver(self.machine.command(PanelCommand(command=command, operator="ana"), self.now))

    def run_until(self, t: float) -> None:
        """The policy decides a step every STEP_S while an episode is open; the panel ticks."""
        while self.now + STEP_S <= t + 1e-9:
            self.now += STEP_S
            if self.book.active is not None:
                h, a = self.spec.chunk_shape
                self.book.add_step(images={c.name: np.zeros(c.shape, np.uint8) for c in self.spec.cameras},
                                   proprio=np.zeros(self.spec.proprio_dim, np.float32),
                                   action=np.zeros((h, a), np.float32), log_prob=np.zeros((h, a), np.float32),
                                   tokens=None, raw_action=None, t_capture=self.now - 0.1, t_decision=self.now,
                                   executed=h)
            self.deliver(self.machine.tick(self.now))


def test_operator_label_time_is_the_judgement_and_undo_takes_the_new_one(tmp_path, tiny_spec):
    rig = Rig(tmp_path / "buf", tiny_spec)
    rig.press("start")                   # t=0
    rig.run_until(4.0)
    rig.press("success")                 # judged at 4.0; published at 7.0 when the undo window ends
    rig.run_until(10.0)
    assert len(rig.buffer.episodes) == 1

    rig.press("start")                   # t=10
    rig.run_until(12.0)
    rig.press("success")                 # judged at 12.0 ...
    rig.run_until(13.0)
    rig.press("undo")                    # ... taken back at 13.0 within the window: nothing was published
    rig.run_until(15.0)
    rig.press("failure")                 # the label that stands: judged at 15.0, published at 18.0
    rig.run_until(16.0)
    rig.press("start")                   # t=16: publishes the pending failure at once, then starts
    rig.run_until(17.0)
    rig.press("abort")                   # judged at 17.0
    rig.run_until(21.0)

    t = rig.buffer.episodes
    assert list(t["status"]) == ["ok", "ok", "aborted"] and list(t["reward"]) == [1, 0, 0]
    assert list(t["label_source"]) == ["operator"] * 3 and list(t["operator"]) == ["ana"] * 3
    np.testing.assert_array_equal(t["t_label"], [4.0, 15.0, 17.0])
    # Episode 0 ran on through the undo window: its steps after the judgement are told apart by t_label.
    decided = rig.buffer.read_episode(0)["t_decision"]
    np.testing.assert_array_equal(decided, np.arange(1, 15) * STEP_S)  # 0.5 .. 7.0: recording ended at publication
    assert (decided > t["t_label"][0]).sum() == 6  # 4.5 .. 7.0: the undo window
    assert t["t_end"][0] - t["t_label"][0] == UNDO_S
    # Episode 1's label came from a Start before its window ended: only 16.0 - 15.0 s after it.
    assert t["t_end"][1] == 16.0 and t["t_label"][1] == 15.0
    assert verify(rig.buffer.path) == []
    rig.buffer.close()


def test_time_limit_and_estop_are_stamped_and_a_superseded_episode_has_no_label(tmp_path, tiny_spec):
    rig = Rig(tmp_path / "buf", tiny_spec, time_limit_s=5.0)
    rig.press("start")                   # t=0; the time limit fails it at 5.0, published at once
    rig.run_until(6.0)
    rig.press("start")                   # t=6
    rig.run_until(7.0)
    rig.press("estop")                   # t=7, published at once
    rig.run_until(8.0)
    # A start from elsewhere (e.g. a simulator) closes the running episode as aborted: nobody labelled it.
    rig.book.on_event(EpisodeEvent(event="start", episode_id="x1", context_id="pick_red/0", stamp=8.0), "i", 1)
    rig.run_until(9.0)
    rig.book.on_event(EpisodeEvent(event="start", episode_id="x2", context_id="pick_red/0", stamp=9.0), "i", 1)
    rig.run_until(10.0)
    rig.book.shutdown()                  # the node stops mid-episode: no label either

    t = rig.buffer.episodes
    assert list(t["status"]) == ["timeout", "estop", "aborted", "aborted"]
    np.testing.assert_array_equal(t["t_label"], [5.0, 7.0, np.nan, np.nan])
    assert verify(rig.buffer.path) == []
    rig.buffer.close()


def test_detector_proposals_reach_the_buffer_with_their_source_and_probability(tmp_path, tiny_spec):
    """Panel machine -> episode events -> EpisodeBook -> buffer: an accepted proposal is stored as
    detector_confirmed with the detector's probability; a plain operator label keeps source operator
    and still records the probability; an episode no detector saw has NaN."""
    from robot_rl.panel.proposal import make_proposal

    rig = Rig(tmp_path / "buf", tiny_spec)
    for key, p in (("accept", 0.97), ("failure", 0.93), ("success", None)):
        rig.press("start")
        rig.run_until(rig.now + 2.0)
        if p is not None:
            rig.machine.on_detector(make_proposal(rig.machine.active.episode_id, p, 0.9, rig.now))
        rig.press(key)
        rig.run_until(rig.now + UNDO_S + 1.0)
    t = rig.buffer.episodes
    assert list(t["label_source"]) == ["detector_confirmed", "operator", "operator"]
    assert list(t["reward"]) == [1, 0, 1]
    np.testing.assert_allclose(t["detector_p"], [0.97, 0.93, np.nan], equal_nan=True)
    assert verify(rig.buffer.path) == []
    rig.buffer.close()
