"""LIBERO suites through robot_rl's registry: tasks, contexts, options, spec checks, success tables.

Nothing here builds a simulator (cheap); tests/sim/test_libero_env.py steps real tasks.
"""

import numpy as np
import pytest
import yaml

from robot_rl.env import Context, available_suites, make_suite
from robot_rl.errors import ConfigError
from sim.libero import catalog
from sim.libero.config import SPEC_PATH
from sim.libero.evaluation import EpisodeOutcome, EvalReport, format_table
from sim.libero.suite import LiberoSuite


def test_every_registered_suite_is_complete_in_the_installed_package():
    registered = set(available_suites())
    assert set(catalog.REGISTERED_SUITES) <= registered
    complete = set(catalog.complete_suites())
    assert set(catalog.REGISTERED_SUITES) <= complete, set(catalog.REGISTERED_SUITES) - complete


@pytest.mark.parametrize(
    "name, n_tasks, limit",
    [("libero_spatial", 10, 220), ("libero_object", 10, 280), ("libero_goal", 10, 300), ("libero_10", 10, 520),
     ("libero_90", 90, 400), ("libero_goal_swap", 10, 300)],
)
def test_make_suite_lists_tasks_with_instructions_and_limits(name, n_tasks, limit):
    suite = make_suite(name)
    assert isinstance(suite, LiberoSuite) and suite.name == name
    tasks = suite.tasks()
    assert len(tasks) == n_tasks
    assert all(t.max_steps == limit and t.num_eval_contexts == 50 == t.num_train_contexts for t in tasks)
    assert all(t.instruction and t.instruction == t.instruction.lower() for t in tasks)
    assert len({t.task for t in tasks}) == n_tasks


def test_instructions_follow_openvla_and_pro_language_perturbations():
    std = make_suite("libero_spatial").tasks()[0]
    lan = make_suite("libero_spatial_lan").tasks()[0]
    task = make_suite("libero_spatial_task").tasks()[0]
    assert std.task == lan.task == task.task  # PRO keeps the file names ...
    assert std.instruction == "pick up the black bowl between the plate and the ramekin and place it on the plate"
    assert lan.instruction != std.instruction  # ... and changes the BDDL language
    assert "not between" in task.instruction


def test_contexts_are_task_by_official_init_state_and_holdout_splits():
    suite = make_suite("libero_object")
    first = suite.tasks()[0].task
    ctx = suite.contexts(first)
    assert ctx == [Context(first, i) for i in range(50)]
    assert suite.contexts(first, "eval") == ctx  # standard protocol: the same 50 official states
    assert len(suite.contexts()) == 500
    held = make_suite("libero_object", eval_holdout=10)
    assert held.contexts(first, "train") == [Context(first, i) for i in range(40)]
    assert len(held.contexts(first, "eval")) == 50
    assert held.tasks()[0].num_train_contexts == 40
    with pytest.raises(ConfigError, match="no task 'nope'"):
        suite.contexts("nope")


def test_init_states_are_official_and_read_only():
    states = catalog.init_states("libero_spatial", 0)
    assert states.shape[0] == 50 and states.dtype == np.float64
    with pytest.raises(ValueError):
        states[0, 0] = 1.0


def test_bad_options_name_the_field():
    with pytest.raises(ConfigError, match="settle_steps"):
        make_suite("libero_spatial", settle_steps=-1)
    with pytest.raises(ConfigError, match="unknown key"):
        make_suite("libero_spatial", shadow=True)
    with pytest.raises(ConfigError, match="render_backend"):
        make_suite("libero_spatial", render_backend="glfw")


def test_image_size_and_custom_spec_are_checked(tmp_path):
    assert make_suite("libero_spatial", image_size=64).spec.camera("wrist").shape == (64, 64, 3)
    data = yaml.safe_load(SPEC_PATH.read_text())
    data["cameras"][1]["name"] = "side"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="LIBERO cameras are"):
        make_suite("libero_spatial", spec=bad)
    data["cameras"][1]["name"] = "wrist"
    data["action"][0]["high"] = 0.1
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="OSC_POSE"):
        make_suite("libero_spatial", spec=bad)


def test_unknown_suites_are_refused():
    with pytest.raises(ConfigError, match="unknown suite"):
        make_suite("libero_nope")
    with pytest.raises(ConfigError, match="standard LIBERO suite"):
        LiberoSuite("libero_mine")


def test_success_tables_known_answer():
    eps = [EpisodeOutcome("s", "a", 0, True, 10), EpisodeOutcome("s", "a", 1, False, 220),
           EpisodeOutcome("s", "b", 0, True, 30), EpisodeOutcome("s", "b", 1, True, 40)]
    rep = EvalReport("s", eps)
    rows = {r.task: r for r in rep.per_task()}
    assert rows["a"].success_rate == 0.5 and rows["b"].success_rate == 1.0
    assert rep.success_rate == 0.75
    d = rep.to_dict()
    assert d["success_rate"] == 0.75 and d["per_task"]["a"] == {"success_rate": 0.5, "successes": 1, "episodes": 2}
    table = format_table([rep, EvalReport("t", [EpisodeOutcome("t", "c", 0, False, 5)])])
    assert "50.0%" in table and "75.0%" in table and "0.0%" in table


def test_config_paths_are_per_installation(tmp_path, monkeypatch):
    """A config left by another installation (another checkout, a deleted .venv) is never read."""
    from sim.libero import catalog

    monkeypatch.delenv(catalog.CONFIG_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    stale = {"bddl_files": "/gone/.venv/libero/bddl_files"}
    monkeypatch.setattr(catalog, "_bundled_paths", lambda: stale)
    old = catalog.configure_paths()
    monkeypatch.delenv(catalog.CONFIG_ENV)
    monkeypatch.setattr(catalog, "_bundled_paths", lambda: {"bddl_files": "/here/.venv/libero/bddl_files"})
    new = catalog.configure_paths()
    assert new != old and yaml.safe_load((new / "config.yaml").read_text())["bddl_files"].startswith("/here/")
    assert yaml.safe_load((old / "config.yaml").read_text())["bddl_files"].startswith("/gone/")
