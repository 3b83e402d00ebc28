"""Reading: episode table filters, complete K-groups, contiguous step reads and training batches."""

import numpy as np
import pytest
import torch
from buffer_helpers import episode_length, tiny_spec, write_episode

from robot_rl.buffer import RolloutBuffer
from robot_rl.errors import BufferError

N_EP = 12


@pytest.fixture(scope="module")
def buf(tmp_path_factory):
    path = tmp_path_factory.mktemp("read") / "store"
    with RolloutBuffer.create(path, tiny_spec(), steps_per_chunk=4) as b:
        for e in range(N_EP):
            write_episode(b, e)
    return RolloutBuffer.open(path)


def test_table_filters(buf):
    t = buf.episodes
    assert len(t) == N_EP and t.episode.tolist() == list(range(N_EP))
    ok_sim = t.filter(label_source="sim", status="ok")
    assert ok_sim.episode.tolist() == [e for e in range(N_EP) if e % 3 == 0 and e % 5]
    assert t.filter(task=["task0", "task1"], policy_version=2).episode.tolist() == [8, 9, 10, 11]
    assert t.filter(context_id="task1/1").to_dicts()[0]["episode"] == 1
    assert t.filter(task="nope").to_dicts() == []
    with pytest.raises(KeyError, match="no episode column 'colour'"):
        t.filter(colour="red")


def test_complete_groups(buf):
    # group g{e//3}: episodes 3g..3g+2; episodes 0, 5, 10 have status timeout (usable).
    groups = buf.complete_groups(3)
    assert [g.group_id for g in groups] == ["g0", "g1", "g2", "g3"]
    assert groups[1].episode_ids == [3, 4, 5] and groups[1].rewards == [1, 0, 1]
    assert groups[0].context_id == "task0/0"
    assert buf.complete_groups(4) == []
    assert [g.episode_ids for g in buf.complete_groups(2, policy_version=1)] == [[4, 5], [6, 7]]
    with pytest.raises(BufferError, match="k must be >= 1"):
        buf.complete_groups(0)


def test_read_steps_in_given_order(buf):
    ids = [5, 2, 3]
    out = buf.read_steps(ids)
    assert isinstance(out["proprio"], torch.Tensor) and out["images/front"].dtype == torch.uint8
    expected = np.concatenate([np.full(episode_length(e), e) for e in ids])
    assert out["episode"].tolist() == expected.tolist()
    part = buf.read_steps([1], fields=["action", "tokens"])
    assert set(part) == {"action", "tokens"} and part["action"].shape == (episode_length(1), 2, 2)
    with pytest.raises(BufferError, match="episode ids must be in"):
        buf.read_steps([N_EP])
    with pytest.raises(BufferError, match="unknown step fields"):
        buf.read_steps([0], fields=["pixels"])


@pytest.mark.parametrize("shuffle", [True, False])
def test_iter_batches_covers_every_selected_step_once(buf, shuffle):
    ids = [0, 1, 4, 7, 8, 11]
    batches = list(buf.iter_batches(5, episode_ids=ids, shuffle=shuffle, seed=3))
    rows = torch.cat([b["proprio"] for b in batches])
    want = torch.cat([buf.read_steps([e])["proprio"] for e in ids])
    assert [len(b["episode"]) for b in batches[:-1]] == [5] * (len(batches) - 1)
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, want.tolist()))
    for b in batches:  # fields stay aligned row by row through the shuffles
        assert torch.equal(b["proprio"][:, 0].floor() // 1000, b["episode"].double())
    if not shuffle:
        assert torch.equal(rows, torch.cat([buf.read_steps([e])["proprio"] for e in sorted(ids)]))
    else:
        again = torch.cat([b["proprio"] for b in buf.iter_batches(5, episode_ids=ids, seed=3)])
        assert torch.equal(rows, again) and not torch.equal(rows, want)


def test_iter_batches_drop_last(buf):
    total = buf.num_steps
    batches = list(buf.iter_batches(7, drop_last=True, window_chunks=2))
    assert all(len(b["episode"]) == 7 for b in batches) and len(batches) == total // 7
