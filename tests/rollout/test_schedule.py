"""Known-answer tests for the LOOP group schedule: rejection, surplus, cap, success cache, determinism, resume."""

import json

import numpy as np
import pytest

from robot_rl.config import validate_config
from robot_rl.env import Context
from robot_rl.errors import ConfigError, ScheduleError
from robot_rl.rollout.schedule import GroupSchedule, ScheduleConfig

K = 4
MIXED, ALL_ONE, ALL_ZERO = [1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]


def _contexts(tasks=("a", "b"), per_task=5):
    return [Context(t, i) for t in tasks for i in range(per_task)]


def _sched(contexts=None, seed=0, **cfg):
    return GroupSchedule(contexts or _contexts(), ScheduleConfig(**cfg), group_size=K, seed=seed)


def test_dynamic_rejection_draws_more_until_the_batch_is_full():
    s = _sched(groups_per_batch=2, cache_enabled=False)
    first = s.next_contexts()
    assert len(first) == 2 and s.pending == 2
    assert s.add_group(first[0], ALL_ONE) is False
    assert s.add_group(first[1], MIXED) is True
    assert not s.ready()
    more = s.next_contexts()
    assert len(more) == 1  # 2 wanted - 1 accepted - 0 pending
    assert s.add_group(more[0], ALL_ZERO) is False
    last = s.next_contexts()
    assert len(last) == 1
    assert s.add_group(last[0], [0, 1, 1, 1]) is True
    assert s.ready()
    batch = s.pop_batch()
    assert [g.context for g in batch] == [first[1], last[0]]
    np.testing.assert_array_equal(batch[0].rewards, MIXED)
    st = s.last_stats
    assert st["rollout/groups"] == 2 and st["rollout/effective_batch_size"] == 2 * K
    assert st["rollout/attempts"] == 4 and st["rollout/acceptance_rate"] == 0.5
    assert st["rollout/rejected_all_success"] == 1 and st["rollout/rejected_all_failure"] == 1
    assert st["rollout/cap_reached"] == 0


def test_without_rejection_uniform_groups_are_kept():
    s = _sched(groups_per_batch=1, dynamic_rejection=False, cache_enabled=False)
    (ctx,) = s.next_contexts()
    assert s.add_group(ctx, ALL_ZERO) is True
    assert len(s.pop_batch()) == 1


def test_surplus_groups_carry_over_in_order():
    s = _sched(groups_per_batch=2, cache_enabled=False)
    issued = s.next_contexts(4)  # e.g. a pool with 4 workers
    for i, ctx in enumerate(issued):
        s.add_group(ctx, MIXED, payload=i)
    assert [g.payload for g in s.pop_batch()] == [0, 1]
    assert s.last_stats["rollout/surplus_carried"] == 2 and s.last_stats["rollout/attempts"] == 4
    assert s.ready() and s.next_contexts() == []  # the carried groups already fill the next batch
    assert [g.payload for g in s.pop_batch()] == [2, 3]
    assert s.last_stats["rollout/attempts"] == 0 and s.last_stats["rollout/surplus_carried"] == 0


def test_surplus_can_be_dropped():
    s = _sched(groups_per_batch=1, cache_enabled=False, keep_surplus=False)
    for ctx in s.next_contexts(3):
        s.add_group(ctx, MIXED)
    assert len(s.pop_batch()) == 1
    assert s.last_stats["rollout/surplus_dropped"] == 2 and not s.ready()


def test_attempt_cap_ends_the_batch_short():
    s = _sched(groups_per_batch=2, max_attempts=3, cache_enabled=False)
    issued = []
    while True:
        new = s.next_contexts()
        if not new:
            break
        for ctx in new:
            issued.append(ctx)
            s.add_group(ctx, MIXED if len(issued) == 2 else ALL_ZERO)  # only the 2nd group has signal
    assert len(issued) == 3 and s.cap_reached() and s.ready()
    batch = s.pop_batch()
    assert len(batch) == 1 and batch[0].context == issued[1]
    assert s.last_stats["rollout/cap_reached"] == 1 and s.last_stats["rollout/effective_batch_size"] == K
    assert len(s.next_contexts()) == 2  # the next batch starts with a fresh attempt budget


def test_cap_waits_for_pending_groups():
    s = _sched(groups_per_batch=2, max_attempts=2, cache_enabled=False)
    a, b = s.next_contexts()
    s.add_group(a, ALL_ZERO)
    assert s.cap_reached() and not s.ready()  # b is still running
    with pytest.raises(ScheduleError, match="not ready"):
        s.pop_batch()
    s.add_group(b, MIXED)
    assert len(s.pop_batch()) == 1


def test_default_cap_is_four_batches_worth():
    assert ScheduleConfig(groups_per_batch=3).attempt_cap == 12
    assert ScheduleConfig(groups_per_batch=3, max_attempts=5).attempt_cap == 5


def test_cache_skips_a_solved_context_then_expires():
    only = Context("a", 0)
    s = _sched([only], groups_per_batch=1, cache_window=1, cache_max_skips=2)
    (ctx,) = s.next_contexts()
    s.add_group(ctx, ALL_ONE)  # solved K/K (and rejected)
    # Next draw: skipped twice (the second skip expires the entry), then rolled out again.
    assert s.next_contexts() == [only]
    assert s._window["skipped_solved"] == 2 and s._window["cache_expired"] == 1
    s.add_group(only, MIXED)
    s.pop_batch()
    assert s.last_stats["rollout/skipped_solved"] == 2 and s.last_stats["rollout/cache_expired"] == 1
    assert s.next_contexts() == [only] and s._window["skipped_solved"] == 0  # last visit unsolved: no skip


@pytest.mark.parametrize("max_skips", [3, 4])
def test_cache_max_skips_is_the_number_of_skips_before_a_retry(max_skips):
    """Default 3; 4 reproduces RIPT-VLA (it forgets once its skip count exceeds rollout_skip_threshold = 3)."""
    assert ScheduleConfig().cache_max_skips == 3
    only = Context("a", 0)
    s = _sched([only], groups_per_batch=1, cache_window=1, cache_max_skips=max_skips)
    s.add_group(only, ALL_ONE)
    assert s.next_contexts() == [only]  # skipped max_skips times, then drawn
    assert (s._window["skipped_solved"], s._window["cache_expired"]) == (max_skips, 1)


def test_cache_window_needs_m_solved_visits():
    only = Context("a", 0)
    s = _sched([only], groups_per_batch=1, cache_window=2, cache_max_skips=5)
    s.next_contexts()
    s.add_group(only, ALL_ONE)
    assert s.next_contexts() == [only] and s._window["skipped_solved"] == 0  # 1 of 2 solved visits
    s.add_group(only, ALL_ONE)
    s.next_contexts()
    assert s._window["skipped_solved"] == 5  # 2 of 2: skipped until expiry, then drawn


def test_cache_skips_only_the_solved_context():
    solved, other = Context("a", 0), Context("a", 1)
    s = _sched([solved, other], groups_per_batch=1, cache_max_skips=100, max_attempts=100)
    s.add_group(solved, ALL_ONE)  # unsolicited (e.g. from a buffer): counts as an attempt
    assert s._window["attempts"] == 1
    drawn = [c for _ in range(10) for c in s.next_contexts(1)]
    assert drawn == [other] * 10
    assert s._window["skipped_solved"] >= 4


def test_cache_disabled_never_skips():
    only = Context("a", 0)
    s = _sched([only], groups_per_batch=1, cache_enabled=False)
    s.add_group(only, ALL_ONE)
    assert s.next_contexts() == [only] and s._window["skipped_solved"] == 0


def test_same_seed_same_draws_and_each_pass_covers_every_context():
    ctxs = _contexts(per_task=5)
    draws = []
    for seed in (7, 7, 8):
        s = _sched(ctxs, seed=seed, cache_enabled=False, max_attempts=100)
        draws.append([c for _ in range(20) for c in s.next_contexts(1)])
    assert draws[0] == draws[1] and draws[0] != draws[2]
    assert sorted(draws[0][:10]) == sorted(ctxs) and sorted(draws[0][10:]) == sorted(ctxs)


def test_task_balanced_sampling_alternates_tasks():
    ctxs = [Context("rare", 0)] + [Context("common", i) for i in range(9)]
    shuffled = _sched(ctxs, cache_enabled=False, max_attempts=100).next_contexts(20)
    balanced = _sched(ctxs, cache_enabled=False, max_attempts=100, sampling="task_balanced").next_contexts(20)
    assert sum(c.task == "rare" for c in shuffled) == 2  # 2 passes over 10 contexts
    assert sum(c.task == "rare" for c in balanced) == 10  # every other draw
    assert len({c for c in balanced if c.task == "common"}) == 9  # each common context once per its pass


def _drive(s, steps, rewards_of):
    """Run a synchronous trainer loop for ``steps`` batches; return what was issued and popped."""
    trace = []
    for _ in range(steps):
        while not s.ready():
            for ctx in s.next_contexts():
                trace.append(("issue", ctx.id))
                s.add_group(ctx, rewards_of(ctx, len(trace)), payload=len(trace))
        trace.append(("pop", [(g.context.id, g.payload) for g in s.pop_batch()]))
    return trace


def _rewards(ctx, t):
    return [ALL_ONE, ALL_ZERO, MIXED][(ctx.init_id + t) % 3]


def test_state_round_trip_continues_exactly():
    ctxs = _contexts(per_task=6)
    cfg = dict(groups_per_batch=3, sampling="task_balanced", cache_window=1, cache_max_skips=2)
    reference = _sched(ctxs, seed=3, **cfg)
    _drive(reference, 3, _rewards)
    issued = reference.next_contexts(2)  # a checkpoint taken with contexts in flight and a surplus
    state = json.loads(json.dumps(reference.state_dict()))  # plain, serialisable values

    resumed = _sched(ctxs, seed=999, **cfg)  # a different seed: everything must come from the state
    resumed.load_state_dict(state)
    assert resumed.pending == 2 and resumed.next_contexts(2) == issued  # in-flight work is issued again
    for s in (reference, resumed):
        for ctx in issued:
            s.add_group(ctx, MIXED, payload="x")
    assert _drive(reference, 4, _rewards) == _drive(resumed, 4, _rewards)
    assert reference.totals() == resumed.totals()


def test_state_for_another_context_list_is_refused():
    state = _sched().state_dict()
    with pytest.raises(ScheduleError, match="different context list"):
        _sched(_contexts(per_task=3)).load_state_dict(state)
    with pytest.raises(ScheduleError, match="version"):
        _sched().load_state_dict(dict(state, version=0))


def test_bad_input_is_refused():
    s = _sched()
    with pytest.raises(ScheduleError, match="3 rewards; group_size is 4"):
        s.add_group(Context("a", 0), [1, 0, 1])
    with pytest.raises(ScheduleError, match="not one of"):
        s.add_group(Context("zzz", 0), MIXED)
    with pytest.raises(ScheduleError, match="NaN"):
        s.add_group(Context("a", 0), [1, 0, float("nan"), 1])
    with pytest.raises(ConfigError, match="empty"):
        GroupSchedule([], ScheduleConfig(), group_size=K)
    with pytest.raises(ConfigError, match="unique"):
        GroupSchedule([Context("a", 0), Context("a", 0)], ScheduleConfig(), group_size=K)
    with pytest.raises(ConfigError, match="K >= 2"):
        GroupSchedule(_contexts(), ScheduleConfig(), group_size=1)
    with pytest.raises(ConfigError, match="groups_per_batch"):
        validate_config(ScheduleConfig, {"groups_per_batch": 0})
    with pytest.raises(ConfigError, match="sampling"):
        validate_config(ScheduleConfig, {"sampling": "random"})
