"""The fixture stores committed in tests/data (format versions 1 to 4) must stay readable, value for value."""

import json
import shutil

import numpy as np
import pytest
from buffer_helpers import (DATA, check_episode, episode_detector_p, episode_steps, episode_t_label,
                            episode_temperature, tiny_spec, write_episode)

from robot_rl.buffer import FORMAT_VERSION, RolloutBuffer, verify

FIXTURE = DATA / "rollout_buffer_v1"
FIXTURE_V2 = DATA / "rollout_buffer_v2"
FIXTURE_V3 = DATA / "rollout_buffer_v3"
FIXTURE_V4 = DATA / "rollout_buffer_v4"


def _root_version(store):
    return json.loads((store / "zarr.json").read_text())["attributes"]["format_version"]


def test_v1_fixture_reads_exactly():
    buf = RolloutBuffer.open(FIXTURE, spec=tiny_spec())
    assert buf.format_version == 1 and FORMAT_VERSION == 4  # a bump means: keep reading v1-v4 (add a v5 fixture)
    assert (buf.num_episodes, buf.num_steps, buf.steps_per_chunk) == (3, 9, 4)
    assert buf.episodes.step_start.tolist() == [0, 1, 7]
    assert buf.episodes.task.tolist() == ["task0", "task1", "task0"]
    assert buf.episodes.label_source.tolist() == ["sim", "expert", "operator"]
    # Version 1 had no label time: every episode reads NaN.
    assert buf.episodes.t_label.dtype == np.float64 and np.isnan(buf.episodes.t_label).all()
    assert buf.episodes.temperature.dtype == np.float64 and np.isnan(buf.episodes.temperature).all()
    assert buf.episodes.detector_p.dtype == np.float64 and np.isnan(buf.episodes.detector_p).all()
    for i in range(3):
        check_episode(buf, i, i, labelled=False, tempered=False, detected=False)
    # A hand-written spot check that does not go through the helpers.
    ep1 = buf.read_episode(1)
    assert ep1["images/front"].shape == (6, 16, 16, 3) and ep1["images/wrist"][5, 0, 0, 0] == (31 + 35 + 1) % 256
    np.testing.assert_allclose(ep1["proprio"][2], [1002.0, 1002.5, 1003.0])
    assert ep1["tokens"][0].tolist() == [[1, 2], [3, 4]]
    assert verify(FIXTURE) == []
    assert _root_version(FIXTURE) == 1  # reading never upgrades


def test_v1_fixture_accepts_appends(tmp_path):
    """Appending upgrades a v1 store to v3 in place: old episodes read NaN, new ones their label time and
    temperature."""
    store = tmp_path / "copy"
    shutil.copytree(FIXTURE, store)
    early_reader = RolloutBuffer.open(store)  # opened before the upgrade
    with RolloutBuffer.open(store, mode="a") as buf:
        assert buf.format_version == 4 and _root_version(store) == 4
        for col in ("t_label", "temperature", "detector_p"):
            assert not (store / "episodes" / col / "c").exists()  # fill values only: nothing written yet
        write_episode(buf, 3)
    reader = RolloutBuffer.open(store)
    assert reader.format_version == 4
    for i in range(4):
        check_episode(reader, i, i, labelled=i == 3, tempered=i == 3, detected=i == 3)
    np.testing.assert_array_equal(reader.episodes.t_label, [np.nan] * 3 + [episode_t_label(3)])
    np.testing.assert_array_equal(reader.episodes.temperature, [np.nan] * 3 + [episode_temperature(3)])
    assert not np.isnan(episode_t_label(3)) and not np.isnan(episode_temperature(3))
    early_reader.refresh()  # a reader opened at v1 picks up the upgrade and the new columns
    assert early_reader.format_version == 4
    np.testing.assert_array_equal(early_reader.episodes.t_label, reader.episodes.t_label)
    np.testing.assert_array_equal(early_reader.episodes.temperature, reader.episodes.temperature)
    assert verify(store) == []


def test_v1_upgrade_interrupted_before_its_commit_point(tmp_path):
    """A writer killed after creating t_label but before rewriting zarr.json leaves a consistent v1 store;
    the next append replaces the stray column, so none of its values can be read."""
    import zarr

    store = tmp_path / "copy"
    shutil.copytree(FIXTURE, store)
    stray = zarr.create_array(store / "episodes" / "t_label", shape=(5,), chunks=(1024,), dtype="float64")
    stray[:] = 7.0  # junk a half-done upgrade could never have written, but must never show
    assert _root_version(store) == 1 and verify(store) == []
    assert np.isnan(RolloutBuffer.open(store).episodes.t_label).all()
    with RolloutBuffer.open(store, mode="a") as buf:
        write_episode(buf, 3)
    reader = RolloutBuffer.open(store)
    np.testing.assert_array_equal(reader.episodes.t_label, [np.nan] * 3 + [episode_t_label(3)])
    assert verify(store) == []


def test_v2_fixture_reads_exactly():
    buf = RolloutBuffer.open(FIXTURE_V2, spec=tiny_spec())
    assert buf.format_version == 2
    assert (buf.num_episodes, buf.num_steps, buf.steps_per_chunk) == (3, 9, 4)
    for i in range(3):
        check_episode(buf, i, i, tempered=False, detected=False)
    assert np.isnan(buf.episodes.temperature).all()  # version 2 had no temperature
    # Hand-written known values: episode 0 (1 step) labelled at 0.01 - 0.05, episode 1 unlabelled,
    # episode 2 (2 steps) labelled 0.05 s before its last decision at 200.11.
    np.testing.assert_allclose(buf.episodes.t_label, [-0.04, np.nan, 200.06], equal_nan=True)
    assert verify(FIXTURE_V2) == []


def test_v2_fixture_accepts_appends(tmp_path):
    """Appending upgrades a v2 store to v4: the v2 episodes read temperature NaN, the new one its temperature."""
    store = tmp_path / "copy"
    shutil.copytree(FIXTURE_V2, store)
    with RolloutBuffer.open(store, mode="a") as buf:
        assert buf.format_version == 4 and _root_version(store) == 4
        write_episode(buf, 3)
    reader = RolloutBuffer.open(store)
    for i in range(4):
        check_episode(reader, i, i, tempered=i == 3, detected=i == 3)
    np.testing.assert_array_equal(reader.episodes.temperature, [np.nan] * 3 + [episode_temperature(3)])
    assert verify(store) == []


def test_v3_fixture_reads_exactly():
    buf = RolloutBuffer.open(FIXTURE_V3, spec=tiny_spec())
    assert buf.format_version == 3
    assert (buf.num_episodes, buf.num_steps, buf.steps_per_chunk) == (3, 9, 4)
    for i in range(3):
        check_episode(buf, i, i, detected=False)
    assert np.isnan(buf.episodes.detector_p).all()  # version 3 had no detector probability
    # Hand-written known values: episode 1 (an expert demonstration) has no sampling temperature.
    np.testing.assert_allclose(buf.episodes.temperature, [0.5, np.nan, 1.5], equal_nan=True)
    np.testing.assert_allclose(buf.episodes.t_label, [-0.04, np.nan, 200.06], equal_nan=True)
    assert verify(FIXTURE_V3) == [] and _root_version(FIXTURE_V3) == 3


def test_v3_fixture_accepts_appends(tmp_path):
    """Appending upgrades a v3 store to v4: the v3 episodes read detector_p NaN, new ones their probability."""
    store = tmp_path / "copy"
    shutil.copytree(FIXTURE_V3, store)
    with RolloutBuffer.open(store, mode="a") as buf:
        assert buf.format_version == 4 and _root_version(store) == 4
        assert not (store / "episodes" / "detector_p" / "c").exists()  # fill values only: nothing written yet
        write_episode(buf, 3)
        write_episode(buf, 5)
    reader = RolloutBuffer.open(store)
    for i, e in enumerate([0, 1, 2, 3, 5]):
        check_episode(reader, i, e, detected=i >= 3)
    np.testing.assert_allclose(reader.episodes.detector_p, [np.nan] * 4 + [episode_detector_p(5)], equal_nan=True)
    assert not np.isnan(episode_detector_p(5))
    assert verify(store) == []


def test_v4_fixture_reads_exactly():
    buf = RolloutBuffer.open(FIXTURE_V4, spec=tiny_spec())
    assert buf.format_version == 4
    assert (buf.num_episodes, buf.num_steps, buf.steps_per_chunk) == (3, 9, 4)
    for i in range(3):
        check_episode(buf, i, i)
    # Hand-written known values: only episode 2 (operator-labelled) had a detector running.
    np.testing.assert_allclose(buf.episodes.detector_p, [np.nan, np.nan, 0.3], equal_nan=True)
    np.testing.assert_allclose(buf.episodes.temperature, [0.5, np.nan, 1.5], equal_nan=True)
    assert verify(FIXTURE_V4) == [] and _root_version(FIXTURE_V4) == 4


def test_v4_fixture_accepts_appends(tmp_path):
    store = tmp_path / "copy"
    shutil.copytree(FIXTURE_V4, store)
    with RolloutBuffer.open(store, mode="a") as buf:
        write_episode(buf, 3)
    reader = RolloutBuffer.open(store)
    for i in range(4):
        check_episode(reader, i, i)
    assert verify(store) == []


@pytest.mark.parametrize("fixture", [FIXTURE, FIXTURE_V2, FIXTURE_V3, FIXTURE_V4])
def test_fixtures_merge_into_the_current_version(tmp_path, fixture):
    from robot_rl.buffer import merge

    merged = merge(fixture, FIXTURE_V4, tmp_path / "merged")
    assert merged.format_version == 4 and merged.num_episodes == 6
    for i in range(6):
        check_episode(merged, i, i % 3, labelled=fixture != FIXTURE or i >= 3,
                      tempered=fixture in (FIXTURE_V3, FIXTURE_V4) or i >= 3,
                      detected=fixture == FIXTURE_V4 or i >= 3)
    assert verify(tmp_path / "merged") == []


def test_temperature_is_validated_on_commit(tmp_path):
    from robot_rl.errors import BufferError

    with RolloutBuffer.create(tmp_path / "b", tiny_spec()) as buf:
        for bad in (0.0, -1.0, float("inf"), True, "1.0"):
            ep = buf.begin_episode()
            ep.add_step(**episode_steps(buf.spec, 0)[0])
            with pytest.raises(BufferError, match=r"temperature: got .*expected the sampling temperature \(> 0\)"):
                ep.commit(task="t", reward=0, label_source="sim", temperature=bad)
            ep.abort()


def test_detector_label_sources_and_probability_are_validated_on_commit(tmp_path):
    from robot_rl.errors import BufferError

    with RolloutBuffer.create(tmp_path / "b", tiny_spec()) as buf:
        for bad in (-0.1, 1.5, float("inf"), True, "0.5"):
            ep = buf.begin_episode()
            ep.add_step(**episode_steps(buf.spec, 0)[0])
            with pytest.raises(BufferError, match=r"detector_p: got .*expected the success detector's probability"):
                ep.commit(task="t", reward=0, label_source="operator", detector_p=bad)
            ep.abort()
        for source in ("detector", "detector_confirmed"):
            ep = buf.begin_episode()
            ep.add_step(**episode_steps(buf.spec, 0)[0])
            with pytest.raises(BufferError, match=f"detector_p: label_source '{source}' needs the detector's probability"):
                ep.commit(task="t", reward=1, label_source=source)
            ep.abort()
        ep = buf.begin_episode()
        ep.add_step(**episode_steps(buf.spec, 0)[0])
        ep.commit(task="t", reward=1, label_source="detector_confirmed", detector_p=0.93)
        ep = buf.begin_episode()
        ep.add_step(**episode_steps(buf.spec, 0)[0])
        ep.commit(task="t", reward=0, label_source="detector", detector_p=0.02)
    reader = RolloutBuffer.open(tmp_path / "b")
    assert reader.episodes.label_source.tolist() == ["detector_confirmed", "detector"]
    np.testing.assert_allclose(reader.episodes.detector_p, [0.93, 0.02])
    assert verify(tmp_path / "b") == []
