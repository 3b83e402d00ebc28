"""`TabletopEnv.set_randomization`: an env built with domain randomization on can run nominal episodes
(what evaluation asks for) without being rebuilt, and switch back."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.env import Context, make_suite

CTX = Context("pick_red", 5)
ACTION = np.array([0.02, -0.01, -0.02, 0.0, 0.0, 0.1, 1.0], dtype=np.float32)


@pytest.fixture(scope="module")
def suite():
    return make_suite("tabletop", spec="tabletop_64")


def _episode(env, steps: int = 3) -> list[dict[str, np.ndarray]]:
    """Images after the reset and after each of ``steps`` steps of one fixed action."""
    frames = [env.reset(CTX).images]
    frames += [env.step(ACTION).obs.images for _ in range(steps)]
    return frames


def _same(a: list[dict[str, np.ndarray]], b: list[dict[str, np.ndarray]]) -> bool:
    return all(np.array_equal(x[cam], y[cam]) for x, y in zip(a, b) for cam in x)


def test_nominal_episodes_of_a_randomized_env_match_a_nominal_env(suite):
    nominal_env = suite.make_env()
    env = suite.make_env(randomization={"enabled": True, "seed": 11})
    try:
        nominal = _episode(nominal_env)
        randomized = _episode(env)
        assert env.randomized and not _same(randomized, nominal)
        env.set_randomization(False)
        assert env.randomized  # takes effect at the next reset, not mid-episode
        off = _episode(env)
        assert not env.randomized
        # Lighting, colours, textures, camera pose, image noise and action noise/latency all off:
        # bit-identical to an env that never randomized.
        assert _same(off, nominal)
        env.set_randomization(True)
        again = _episode(env)
        assert env.randomized and not _same(again, nominal)
    finally:
        env.close()
        nominal_env.close()


def test_nominal_episodes_do_not_advance_the_randomization_stream(suite):
    on = {"enabled": True, "seed": 5}
    env_a, env_b = suite.make_env(randomization=on), suite.make_env(randomization=on)
    try:
        first_a = _episode(env_a, steps=1)
        env_a.set_randomization(False)
        _episode(env_a, steps=1)  # an evaluation episode in between
        env_a.set_randomization(True)
        second_a = _episode(env_a, steps=1)
        first_b, second_b = _episode(env_b, steps=1), _episode(env_b, steps=1)
        assert _same(first_a, first_b)
        assert _same(second_a, second_b)  # same draws as if the nominal episode had not happened
    finally:
        env_a.close()
        env_b.close()


def test_set_randomization_cannot_turn_on_what_the_config_leaves_off(suite):
    nominal_env, env = suite.make_env(), suite.make_env()
    try:
        env.set_randomization(True)
        assert _same(_episode(env, steps=1), _episode(nominal_env, steps=1)) and not env.randomized
    finally:
        env.close()
        nominal_env.close()
