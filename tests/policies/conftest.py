"""Fixtures for the policy tests; helpers live in policy_fixtures.py."""

import pytest

from policy_fixtures import small_spec


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The test machine's 2 cores are shared: 2 intra-op threads per process oversubscribe them (4x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def spec():
    return small_spec()
