"""Minibatch bookkeeping of the LOOP update (robot_rl.algorithms.loop_batching): denominators, microbatches,
and a global batch split over ranks that walks exactly the minibatches of one process."""

import threading

import pytest
import torch

from robot_rl.algorithms.loop_batching import BatchRows, global_rows
from robot_rl.errors import AlgorithmError


def _rows(mask, elements):
    mask = None if mask is None else torch.tensor(mask)
    elements = torch.tensor(elements, dtype=torch.float64)
    return BatchRows.of(mask, torch.arange(len(elements), dtype=torch.float32), elements, None)


def test_token_mean_denominator_counts_valid_elements_of_the_whole_minibatch():
    rows = _rows([True, True, False, True], [6.0, 3.0, 6.0, 0.0])
    mbs = list(rows.minibatches(2, 1, "token-mean", shuffle=False, generator=None))
    # rows 0+1: 6 + 3 elements; rows 2+3: masked and unexecuted -> no optimiser step at all.
    assert [mb.weight for mb in mbs] == [9.0]
    assert [idx.tolist() for idx in mbs[0].micro] == [[0], [1]]


def test_other_aggregations_count_rows_with_any_valid_element():
    rows = _rows(None, [6.0, 0.0, 2.0, 5.0, 1.0])
    mbs = list(rows.minibatches(4, 3, "seq-mean-token-sum", shuffle=False, generator=None))
    assert [mb.weight for mb in mbs] == [3.0, 1.0]
    assert [[i.tolist() for i in mb.micro] for mb in mbs] == [[[0, 1, 2], [3]], [[4]]]


def test_shuffled_order_comes_from_the_generator():
    rows = _rows(None, [1.0] * 7)
    order = torch.randperm(7, generator=torch.Generator().manual_seed(5))
    mbs = list(rows.minibatches(7, 7, "token-mean", shuffle=True, generator=torch.Generator().manual_seed(5)))
    assert mbs[0].micro[0].tolist() == order.tolist()


def test_global_mean_in_one_process():
    rows = _rows(None, [1.0])
    assert rows.global_mean(3.0, 2.0) == 1.5
    assert rows.global_mean(0.0, 0.0) is None


class _ThreadRanks:
    """A process group of threads (the collectives BatchRows uses), so ranks run concurrently in one test."""

    def __init__(self, world: int) -> None:
        self.world = world
        self.barrier = threading.Barrier(world)
        self.slots: list = [None] * world

    def _exchange(self, rank, value):
        self.slots[rank] = value
        self.barrier.wait()
        out = list(self.slots)
        self.barrier.wait()
        return out


class _Rank:
    def __init__(self, group: _ThreadRanks, rank: int, global_index, global_size: int, lockstep: bool) -> None:
        self.group, self.rank = group, rank
        self.global_index = torch.tensor(global_index, dtype=torch.long)
        self.global_size = global_size
        self.lockstep = lockstep

    def all_reduce(self, tensor, op="sum"):
        parts = self.group._exchange(self.rank, tensor.clone())
        return torch.stack(parts).sum(0) if op == "sum" else torch.stack(parts).max(0).values

    def broadcast(self, tensor):
        return self.group._exchange(self.rank, tensor.clone())[0]

    def all_gather_object(self, obj):
        return self.group._exchange(self.rank, obj)

    def reduce_gradients(self, params):
        pass


@pytest.mark.parametrize("lockstep", [False, True])
def test_split_batch_walks_the_minibatches_of_one_process(lockstep):
    elements = [4.0, 2.0, 4.0, 0.0, 4.0, 1.0, 3.0]
    single = list(_rows(None, elements).minibatches(3, 2, "token-mean", True, torch.Generator().manual_seed(1)))
    # Rank 0 holds global rows 0, 2, 4, 6; rank 1 rows 1, 3, 5 and a placeholder (-1) that never counts.
    index = [[0, 2, 4, 6], [1, 3, 5, -1]]
    group = _ThreadRanks(2)
    out: dict[int, list] = {}

    def run(rank):
        dp = _Rank(group, rank, index[rank], 7, lockstep)
        local = torch.tensor([elements[i] if i >= 0 else 9.0 for i in index[rank]], dtype=torch.float64)
        rows = BatchRows.of(None, torch.zeros(4), local, dp)
        gen = torch.Generator().manual_seed(1) if rank == 0 else torch.Generator().manual_seed(99)
        out[rank] = list(rows.minibatches(3, 2, "token-mean", True, gen))
        out[rank].append(rows)

    threads = [threading.Thread(target=run, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows0 = out[0].pop()
    out[1].pop()
    assert rows0.mask_global.tolist() == [True] * 7  # the placeholder is not a global row
    assert rows0.elements.tolist() == elements
    assert [mb.weight for mb in out[0]] == [mb.weight for mb in single] == [mb.weight for mb in out[1]]
    for mb, m0, m1 in zip(single, out[0], out[1]):
        want = sorted(i for micro in mb.micro for i in micro.tolist())
        got = sorted([index[0][i] for micro in m0.micro if micro is not None for i in micro.tolist()]
                     + [index[1][i] for micro in m1.micro if micro is not None for i in micro.tolist()])
        assert got == want
        if lockstep:  # both ranks run the same number of passes, padding with None
            assert len(m0.micro) == len(m1.micro)
        else:
            assert None not in m0.micro and None not in m1.micro


def test_global_index_must_cover_the_local_rows():
    group = _ThreadRanks(1)
    dp = _Rank(group, 0, [0, 1], 3, False)
    with pytest.raises(AlgorithmError, match=r"global_index must be \(N_local,\) = \(3,\)"):
        BatchRows.of(None, torch.zeros(3), torch.ones(3, dtype=torch.float64), dp)


def test_global_rows_scatters_exactly():
    group = _ThreadRanks(1)
    dp = _Rank(group, 0, [2, -1, 0], 4, False)
    assert global_rows(torch.tensor([1.5, 7.0, 0.25]), dp).tolist() == [0.25, 0.0, 1.5, 0.0]
