"""Executed-action masking (robot_rl.algorithms.loop_scoring): the unexecuted tail of a chunk gets no ratio,
no gradient and no weight in a denominator, at every granularity."""

import torch

from robot_rl.algorithms.loop_scoring import element_mask, reduce_executed, row_elements

VALID = torch.tensor([[True, True, False], [True, False, False]])  # (N=2, H=3): 2 and 1 actions executed


def test_row_elements_count_executed_actions_times_dimensions():
    assert row_elements(VALID, torch.zeros(2, 3, 4)).tolist() == [8.0, 4.0]  # token: actions x A
    assert row_elements(VALID, torch.zeros(2, 3)).tolist() == [2.0, 1.0]  # action
    assert row_elements(VALID, torch.zeros(2)).tolist() == [1.0, 1.0]  # chunk: one element if any ran
    assert row_elements(torch.zeros(2, 3, dtype=torch.bool), torch.zeros(2)).tolist() == [0.0, 0.0]
    assert row_elements(None, torch.zeros(2, 3, 4)).tolist() == [12.0, 12.0]


def test_element_mask_combines_rows_and_executed_actions():
    rows = torch.tensor([True, False])
    m = element_mask(rows, VALID, torch.zeros(2, 3, 4))
    assert m.shape == (2, 3, 4) and m[0, :, 0].tolist() == [True, True, False] and not m[1].any()
    assert element_mask(rows, VALID, torch.zeros(2, 3)).tolist() == [[True, True, False], [False] * 3]
    assert element_mask(rows, VALID, torch.zeros(2)).tolist() == [True, False]
    assert element_mask(rows, None, torch.zeros(2, 3)) is rows


def test_chunk_log_prob_sums_executed_actions_only():
    per_dim = torch.arange(12, dtype=torch.float32).view(1, 3, 4).repeat(2, 1, 1)  # action sums 6, 22, 38
    assert reduce_executed(per_dim, "chunk", VALID).tolist() == [28.0, 6.0]
    assert reduce_executed(per_dim, "chunk", None).tolist() == [66.0, 66.0]
    # token / action granularities keep every element; element_mask drops the tail there.
    assert reduce_executed(per_dim, "action", VALID).shape == (2, 3)
