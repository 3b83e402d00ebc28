"""The format-v1 store committed in tests/data must stay readable, value for value."""

import shutil

import numpy as np
from buffer_helpers import DATA, check_episode, tiny_spec, write_episode

from robot_rl.buffer import FORMAT_VERSION, RolloutBuffer, verify

FIXTURE = DATA / "rollout_buffer_v1"


def test_v1_fixture_reads_exactly():
    buf = RolloutBuffer.open(FIXTURE, spec=tiny_spec())
    assert buf.format_version == 1 == FORMAT_VERSION  # bump means: keep reading v1 (add a v2 fixture)
    assert (buf.num_episodes, buf.num_steps, buf.steps_per_chunk) == (3, 9, 4)
    assert buf.episodes.step_start.tolist() == [0, 1, 7]
    assert buf.episodes.task.tolist() == ["task0", "task1", "task0"]
    assert buf.episodes.label_source.tolist() == ["sim", "expert", "operator"]
    for i in range(3):
        check_episode(buf, i, i)
    # A hand-written spot check that does not go through the helpers.
    ep1 = buf.read_episode(1)
    assert ep1["images/front"].shape == (6, 16, 16, 3) and ep1["images/wrist"][5, 0, 0, 0] == (31 + 35 + 1) % 256
    np.testing.assert_allclose(ep1["proprio"][2], [1002.0, 1002.5, 1003.0])
    assert ep1["tokens"][0].tolist() == [[1, 2], [3, 4]]
    assert verify(FIXTURE) == []


def test_v1_fixture_accepts_appends(tmp_path):
    store = tmp_path / "copy"
    shutil.copytree(FIXTURE, store)
    with RolloutBuffer.open(store, mode="a") as buf:
        write_episode(buf, 3)
    reader = RolloutBuffer.open(store)
    for i in range(4):
        check_episode(reader, i, i)
    assert verify(store) == []
