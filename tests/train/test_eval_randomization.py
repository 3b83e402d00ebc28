"""The trainer evaluates without domain randomization unless ``eval.randomize``, on the same
worker pool that collects randomized training rollouts (real tabletop envs in worker processes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_trainer import TINY

from robot_rl.buffer import RolloutBuffer
from robot_rl.env import Context, make_suite
from robot_rl.errors import ConfigError
from robot_rl.policies import make_policy, save_policy
from robot_rl.train.config import TrainConfig
from robot_rl.train.trainer import LoopTrainer

SUITE_OPTIONS = {"spec": "tabletop_64", "randomization": {"enabled": True, "seed": 2}}


@pytest.fixture(scope="module")
def suite():
    return make_suite("tabletop", spec="tabletop_64")


@pytest.fixture(scope="module")
def start_policy(tmp_path_factory, suite):
    path = tmp_path_factory.mktemp("policy") / "ckpt"
    torch.manual_seed(0)
    save_policy(make_policy("tiny", suite.spec, TINY), path)
    return path


@pytest.fixture(scope="module")
def nominal_images(suite):
    """First observation of a never-randomized env for ``context``, memoised."""
    env = suite.make_env()
    cache: dict[Context, dict[str, np.ndarray]] = {}

    def images(context: Context) -> dict[str, np.ndarray]:
        if context not in cache:
            cache[context] = env.reset(context).images
        return cache[context]

    yield images
    env.close()


def _config(policy, updates: int, **eval_cfg) -> TrainConfig:
    return TrainConfig.model_validate({
        "seed": 1, "updates": updates, "checkpoint_every": 1, "policy": str(policy),
        "suite": {"name": "tabletop", "options": SUITE_OPTIONS, "tasks": ["pick_red"]},
        # One worker: the evaluation episodes run on the env that just ran randomized training episodes.
        "loop": {"group_size": 2, "ppo_epochs": 1, "minibatch_size": 16},
        "schedule": {"groups_per_batch": 1, "dynamic_rejection": True, "max_attempts": 1, "cache_enabled": False},
        "rollout": {"num_workers": 1, "step_timeout_s": 60},
        "eval": {"contexts_per_task": 2, **eval_cfg},
    })


def _run_capturing_eval(trainer: LoopTrainer) -> list[tuple[Context, dict[str, np.ndarray]]]:
    """Run the trainer; return (context, first observation's images) of every evaluation episode."""
    seen: list[tuple[Context, dict[str, np.ndarray]]] = []
    evaluate = trainer.evaluate

    def evaluate_capturing(pool):
        # The steps are dropped after on_episode returns: keep the first frame now.
        return evaluate(pool, on_episode=lambda r: seen.append((r.job.context, r.steps[0].obs.images)))

    trainer.evaluate = evaluate_capturing  # type: ignore[method-assign]
    trainer.run()
    return seen


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[c], b[c]) for c in a)


def test_training_is_randomized_and_evaluation_is_nominal_by_default(start_policy, tmp_path, nominal_images):
    trainer = LoopTrainer(_config(start_policy, updates=1), tmp_path / "run")
    assert trainer.cfg.eval.randomize is False
    seen = _run_capturing_eval(trainer)
    # Before and after training, the 2 held-out contexts: the scene the suite renders without randomization.
    assert [c.id for c, _ in seen] == ["pick_red/50", "pick_red/51"] * 2
    for context, images in seen:
        assert _same(images, nominal_images(context)), context
    # The training rollouts in between (same worker, same env) were randomized.
    buf = RolloutBuffer.open(tmp_path / "run" / "rollouts.zarr")
    assert len(buf.episodes) == 2
    for i, context_id in enumerate(buf.episodes["context_id"]):
        steps = buf.read_episode(i, ["images/agentview", "images/wrist"])
        first = {cam: steps[f"images/{cam}"][0] for cam in ("agentview", "wrist")}
        assert not _same(first, nominal_images(Context.parse(str(context_id))))


def test_eval_randomize_evaluates_under_the_training_randomization(start_policy, tmp_path, nominal_images):
    seen = _run_capturing_eval(LoopTrainer(_config(start_policy, updates=0, randomize=True), tmp_path / "run"))
    assert len(seen) == 4
    for context, images in seen:
        assert not _same(images, nominal_images(context)), context
    assert not _same(seen[0][1], seen[2][1])  # a new draw for each episode, not one fixed perturbation


def test_eval_randomize_errors_name_the_field(start_policy, tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("suite: {name: tabletop}\neval: {randomize: maybe}\n")
    with pytest.raises(ConfigError, match=r"eval\.randomize: got 'maybe'"):
        TrainConfig.load(path)
    with pytest.raises(ConfigError, match=r"eval\.randomise: unknown key.*randomize"):
        TrainConfig.load(path, {"eval": {"randomise": True}})
