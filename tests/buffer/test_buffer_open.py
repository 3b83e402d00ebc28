"""Opening: spec and version checks, and verify() finding damage."""

import json

import numpy as np
import pytest
from buffer_helpers import tiny_spec, write_episode

from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.errors import BufferError
from robot_rl.spec import EmbodimentSpec


@pytest.fixture
def store(tmp_path):
    with RolloutBuffer.create(tmp_path / "store", tiny_spec(), steps_per_chunk=4) as buf:
        for e in range(3):
            write_episode(buf, e)
    return tmp_path / "store"


def _edit_root(store, **attrs):
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"].update(attrs)
    (store / "zarr.json").write_text(json.dumps(meta))


def test_spec_mismatch_names_the_difference(store):
    other = tiny_spec().to_dict()
    other["chunk_length"] = 4
    other["cameras"][1]["width"] = 20
    with pytest.raises(BufferError, match="spec mismatch") as err:
        RolloutBuffer.open(store, mode="a", spec=EmbodimentSpec.from_dict(other))
    assert "chunk_length: 2 vs 4" in str(err.value) and "cameras[wrist].width: 12 vs 20" in str(err.value)
    renamed = EmbodimentSpec.from_dict({**tiny_spec().to_dict(), "name": "tiny_b"})
    assert RolloutBuffer.open(store, spec=renamed).num_episodes == 3  # name and latency may differ


def test_unknown_version_and_format_are_refused(store):
    _edit_root(store, format_version=7)
    with pytest.raises(BufferError, match=r"format_version 7 is not supported; this robot_rl reads versions 1"):
        RolloutBuffer.open(store)
    assert "format_version 7" in verify(store)[0]
    _edit_root(store, format_version=1, format="someone.else")
    with pytest.raises(BufferError, match=r"unknown store format 'someone.else'; supported: 'robot_rl.rollout_buffer'"):
        RolloutBuffer.open(store)


def test_not_a_store(tmp_path):
    with pytest.raises(BufferError, match="no rollout buffer here"):
        RolloutBuffer.open(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BufferError, match="no zarr.json"):
        RolloutBuffer.open(tmp_path / "empty")


def test_verify_finds_damage(store):
    assert verify(store) == []
    import zarr
    zarr.open_array(store / "steps" / "proprio", mode="r+")[2] = np.nan
    zarr.open_array(store / "episodes" / "reward", mode="r+")[1] = 3
    problems = verify(store)
    assert any("reward not 0/1 at episodes 1" in p for p in problems), problems
    zarr.open_array(store / "episodes" / "reward", mode="r+")[1] = 1
    assert verify(store) == ["steps: non-finite proprio/action/log_prob/timestamps at rows 2"]
    zarr.open_array(store / "steps" / "proprio", mode="r+")[2] = 0
    zarr.open_array(store / "episodes" / "t_label", mode="r+")[2] = -np.inf
    assert verify(store) == ["episodes: t_label infinite at episodes 2 (NaN = no label)"]
    zarr.open_array(store / "episodes" / "t_label", mode="r+")[2] = np.nan
    assert verify(store) == []
    import shutil
    shutil.rmtree(store / "episodes" / "t_label")  # a version-2 store must have the column
    assert verify(store) and "episodes/t_label" in verify(store)[0]
    _edit_root(store, format_version=1)  # ... a version-1 store need not
    assert verify(store) == []
    zarr.open_array(store / "steps" / "episode", mode="r+")[0] = 5
    assert verify(store) == ["steps: episode column does not match the table at rows 0"]
    _edit_root(store, commit={"episodes": 3, "steps": 100})
    assert "100 are committed" in " ".join(verify(store))


def test_writer_repairs_trailing_rows_past_the_commit(store):
    # Simulate a writer that died mid-episode: rows past the commit record, plus a stray temp file.
    with RolloutBuffer.open(store, mode="a", background_flush=False) as buf:
        ep = buf.begin_episode()
        for _ in range(6):
            ep.add_step(images={c.name: np.full(c.shape, 9, np.uint8) for c in buf.spec.cameras},
                        proprio=np.zeros(3), action=np.zeros((2, 2)), log_prob=np.zeros((2, 2)),
                        raw_action=np.ones((2, 2)))
        ep._flush()
        ep._done = True  # leave the rows on disk as a killed writer would
        buf._session.active = None
    (store / "steps" / "proprio" / "c" / "0.abc.partial").write_bytes(b"junk")
    raw = zarr_open(store, "raw_action")
    assert raw.shape[0] == 9 + 6
    with RolloutBuffer.open(store, mode="a"):
        pass
    raw = zarr_open(store, "raw_action")
    assert raw.shape[0] == 9 and not list(store.rglob("*.partial"))
    assert sorted(p.name for p in (store / "steps" / "raw_action" / "c").iterdir()) == ["1", "2"]  # rows 7-8 (episode 2)
    raw.resize((12, 2, 2))  # growing again must not resurrect the dead episode's rows
    assert np.isnan(raw[9:12]).all()
    assert verify(store) == []


def zarr_open(store, name):
    import zarr
    return zarr.open_array(store / "steps" / name, mode="r+")
