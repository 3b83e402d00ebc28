"""`robot-rl tasks` and `robot-rl demos` against the real tabletop suite and a real rollout buffer."""

from __future__ import annotations

import json

import numpy as np

from robot_rl.cli import main
from robot_rl.env import make_suite


def test_tasks_lists_every_installed_suite_as_json(capsys):
    assert main(["tasks", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    by_suite = {s["suite"]: s for s in listing["suites"]}
    assert "tabletop" in by_suite
    tabletop = by_suite["tabletop"]["tasks"]
    assert {t["task"]: t["instruction"] for t in tabletop} == {t.task: t.instruction for t in make_suite("tabletop").tasks()}
    assert all(t["num_train_contexts"] >= 50 and t["num_eval_contexts"] >= 50 for t in tabletop)


def test_tasks_text_for_one_suite_and_unknown_suite(capsys):
    assert main(["tasks", "--suite", "tabletop"]) == 0
    out = capsys.readouterr().out
    assert "put the red cube in the bowl" in out and "stack_red_green" in out
    assert main(["tasks", "--suite", "nope"]) == 2
    assert "unknown suite 'nope'" in capsys.readouterr().err


def test_demos_records_expert_episodes_into_the_buffer(tmp_path, capsys):
    from robot_rl.buffer import RolloutBuffer

    out = tmp_path / "demos"
    assert main(["demos", "--suite", "tabletop", "--task", "pick_blue", "--episodes", "2", "--out", str(out)]) == 0
    buf = RolloutBuffer.open(out)
    assert len(buf.episodes) == 2
    assert list(buf.episodes.label_source) == ["expert", "expert"]
    assert list(buf.episodes.reward) == [1, 1]
    assert list(buf.episodes.task) == ["pick_blue", "pick_blue"]
    ep = buf.read_episode(0)
    spec = make_suite("tabletop").spec
    steps = len(ep["proprio"])
    assert ep["action"].shape == (steps, *spec.chunk_shape)
    assert ep["images/agentview"].shape == (steps, 128, 128, 3)
    assert np.all(ep["log_prob"] == 0)
    # One row per env step, each with the next H expert actions; the chunks near the end are cut short.
    t = int(buf.episodes.env_steps[0])
    assert steps == t
    np.testing.assert_array_equal(ep["executed"], np.minimum(spec.chunk_length, t - np.arange(t)))
    # Row t+1's chunk is row t's chunk shifted by one action.
    np.testing.assert_array_equal(ep["action"][1, :-1], ep["action"][0, 1:])

    # --decisions-only: one row per decision, every H env steps.
    out2 = tmp_path / "decisions"
    assert main(["demos", "--suite", "tabletop", "--task", "pick_blue", "--episodes", "1", "--out", str(out2),
                 "--decisions-only"]) == 0
    buf2 = RolloutBuffer.open(out2)
    ep2 = buf2.read_episode(0)
    assert np.all(ep2["executed"][:-1] == spec.chunk_length) and 1 <= ep2["executed"][-1] <= spec.chunk_length
    assert int(buf2.episodes.env_steps[0]) == int(ep2["executed"].sum())
    # The first recorded observation is the context's initial observation.
    env = make_suite("tabletop").make_env()
    try:
        first = env.reset(make_suite("tabletop").contexts("pick_blue")[0])
        assert np.array_equal(first.images["wrist"], ep["images/wrist"][0])
    finally:
        env.close()


def test_demos_works_for_any_suite_with_an_expert(tmp_path, capsys):
    from robot_rl.buffer import RolloutBuffer

    out = tmp_path / "reach"
    assert main(["demos", "--suite", "point_reach", "--episodes", "3", "--out", str(out), "--noise", "0"]) == 0
    buf = RolloutBuffer.open(out)
    assert len(buf.episodes) == 3 and set(buf.episodes.task) == {"reach_blue", "reach_red"}
    assert buf.read_episode(0)["action"].shape[1:] == make_suite("point_reach").spec.chunk_shape
    # The label time is when the env judged the episode: after its last recorded step, same clock.
    t = buf.episodes
    assert np.all(t.t_label >= t.t_end) and np.all(t.t_label - t.t_end < 60)


def test_demos_refuses_a_suite_without_expert(tmp_path, monkeypatch, capsys):
    import robot_rl.demos_cli as demos_cli
    from sim.point_reach import PointReachSuite

    class NoExpertSuite(PointReachSuite):
        expert = None

    monkeypatch.setattr(demos_cli, "make_suite", lambda name: NoExpertSuite())
    assert main(["demos", "--suite", "point_reach", "--episodes", "1", "--out", str(tmp_path / "x")]) == 2
    assert "no scripted expert" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
