"""Writing: round trip of every field, commit visibility, abort, and refusal of bad input."""

import numpy as np
import pytest
from buffer_helpers import check_episode, episode_meta, episode_steps, tiny_spec, write_episode

from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.errors import BufferError


@pytest.fixture
def buf(tmp_path):
    with RolloutBuffer.create(tmp_path / "store", tiny_spec(), steps_per_chunk=4) as b:
        yield b


def test_round_trip_every_field(buf):
    for e in range(7):  # tokens, raw_action, both absent; episodes cross chunk boundaries
        assert write_episode(buf, e) == e
    reader = RolloutBuffer.open(buf.path)
    assert reader.num_episodes == 7 and reader.num_steps == sum(len(episode_steps(buf.spec, e)) for e in range(7))
    for e in range(7):
        check_episode(reader, e, e)
        check_episode(buf, e, e)  # the writer reads its own commits too
    assert verify(buf.path) == []


def test_episode_visible_only_after_commit_and_refresh(buf):
    reader = RolloutBuffer.open(buf.path)
    ep = buf.begin_episode()
    for step in episode_steps(buf.spec, 4) * 3:  # 9 steps: two whole chunks flushed before commit
        ep.add_step(**step)
    ep._s.drain()  # the steps are on disk, past the commit record
    assert RolloutBuffer.open(buf.path).num_episodes == 0
    assert reader.refresh().episodes == 0 and len(reader.episodes) == 0
    ep.commit(**episode_meta(4))
    assert reader.num_episodes == 0  # no refresh yet: a reader's view is stable
    assert reader.refresh().episodes == 1 and reader.num_steps == 9
    assert reader.episodes.task.tolist() == ["task0"]


def test_abort_discards_everything(buf):
    write_episode(buf, 1)
    ep = buf.begin_episode()
    for step in episode_steps(buf.spec, 3):
        ep.add_step(**step)
    ep.abort()
    with pytest.raises(BufferError, match="already committed or aborted"):
        ep.add_step(**episode_steps(buf.spec, 3)[0])
    assert buf.num_episodes == 1 and buf.num_steps == episode_length_of(buf, 1)
    steps_arr = RolloutBuffer.open(buf.path)._cache.get("steps/proprio", 0)
    assert steps_arr.shape[0] == buf.num_steps  # truncated away, not just hidden
    write_episode(buf, 2)
    check_episode(RolloutBuffer.open(buf.path), 1, 2)
    assert verify(buf.path) == []


def episode_length_of(buf, e):
    return len(episode_steps(buf.spec, e))


def test_context_manager_aborts_on_exception(buf):
    with pytest.raises(RuntimeError):
        with buf.begin_episode() as ep:
            ep.add_step(**episode_steps(buf.spec, 1)[0])
            raise RuntimeError("robot fell over")
    assert buf.num_episodes == 0
    write_episode(buf, 1)  # a new episode can start
    assert buf.num_episodes == 1


def _good(buf):
    return episode_steps(buf.spec, 1)[0]  # episode 1 carries tokens


def _bad_cases(spec):
    h, a = spec.chunk_shape
    return {
        "missing camera": ("images", lambda s: {**s, "images": {"front": s["images"]["front"]}}),
        "extra camera": ("images", lambda s: {**s, "images": {**s["images"], "side": s["images"]["front"]}}),
        "image shape": ("images/front", lambda s: {**s, "images": {**s["images"], "front": np.zeros((16, 15, 3), np.uint8)}}),
        "image dtype": ("images/wrist", lambda s: {**s, "images": {**s["images"], "wrist": np.zeros((8, 12, 3), np.float32)}}),
        "proprio shape": ("proprio", lambda s: {**s, "proprio": np.zeros(4, np.float32)}),
        "proprio nan": ("proprio", lambda s: {**s, "proprio": np.array([0, np.nan, 0], np.float32)}),
        "action inf": ("action", lambda s: {**s, "action": np.full((h, a), np.inf, np.float32)}),
        "action shape": ("action", lambda s: {**s, "action": np.zeros((h + 1, a), np.float32)}),
        "log_prob nan": ("log_prob", lambda s: {**s, "log_prob": np.full((h, a), np.nan, np.float32)}),
        "tokens float": ("tokens", lambda s: {**s, "tokens": np.zeros((h, a), np.float32)}),
        "tokens negative": ("tokens", lambda s: {**s, "tokens": np.full((h, a), -3, np.int32)}),
        "tokens dropped mid-episode": ("tokens", lambda s: {**s, "tokens": None}),
        "raw_action added mid-episode": ("raw_action", lambda s: {**s, "raw_action": np.zeros((h, a), np.float32)}),
        "t_capture nan": ("t_capture", lambda s: {**s, "t_capture": float("nan")}),
        "executed too many": ("executed", lambda s: {**s, "executed": h + 1}),
    }


@pytest.mark.parametrize("case", list(_bad_cases(tiny_spec())))
def test_bad_step_is_refused_and_writes_nothing(buf, case):
    field, make_bad = _bad_cases(buf.spec)[case]
    write_episode(buf, 0)
    files_before = sorted(p.relative_to(buf.path) for p in buf.path.rglob("*"))
    ep = buf.begin_episode()
    ep.add_step(**_good(buf))
    with pytest.raises(BufferError, match=field.replace("/", ".")):
        ep.add_step(**make_bad(_good(buf)))
    ep.add_step(**_good(buf))
    ep.commit(**episode_meta(1))
    reader = RolloutBuffer.open(buf.path)
    assert reader.num_episodes == 2 and reader.episodes.step_count.tolist() == [1, 2]
    np.testing.assert_array_equal(reader.read_episode(1)["proprio"], np.stack([_good(buf)["proprio"]] * 2))
    assert verify(buf.path) == []
    assert files_before  # sanity: the comparison below is not vacuous
    ep2 = buf.begin_episode()
    with pytest.raises(BufferError):
        ep2.add_step(**make_bad(_good(buf)) if case not in ("tokens dropped mid-episode", "raw_action added mid-episode")
                     else {**_good(buf), "proprio": np.full(3, np.nan)})
    ep2.abort()
    assert RolloutBuffer.open(buf.path).num_steps == 3


@pytest.mark.parametrize("field,value,match", [
    ("reward", 2, "reward: got 2; allowed: 0 or 1"),
    ("reward", 0.5, "reward"),
    ("label_source", "human", "label_source: got 'human'; allowed: sim, expert, operator, detector, detector_confirmed"),
    ("status", "crashed", "status: got 'crashed'; allowed: ok, timeout, aborted, estop, error"),
    ("task", "", "task: must not be empty"),
    ("policy_version", -1, "policy_version"),
    ("group_id", 3, "group_id: expected a string"),
    ("t_label", float("inf"), "t_label: got inf; expected a time in seconds, or None/NaN for no label"),
    ("t_label", "12:00", "t_label: got '12:00'"),
])
def test_bad_commit_is_refused_and_episode_stays_open(buf, field, value, match):
    ep = buf.begin_episode()
    ep.add_step(**_good(buf))
    with pytest.raises(BufferError, match=match):
        ep.commit(**{**episode_meta(1), field: value})
    assert RolloutBuffer.open(buf.path).num_episodes == 0
    assert ep.commit(**episode_meta(1)) == 0  # fixing the metadata commits the same episode


def test_commit_without_steps_is_refused(buf):
    ep = buf.begin_episode()
    with pytest.raises(BufferError, match="no steps"):
        ep.commit(**episode_meta(0))
    ep.abort()
    assert buf.num_episodes == 0 and verify(buf.path) == []


def test_one_episode_at_a_time_and_readers_cannot_write(buf):
    ep = buf.begin_episode()
    with pytest.raises(BufferError, match="already being recorded"):
        buf.begin_episode()
    ep.abort()
    with pytest.raises(BufferError, match="read-only"):
        RolloutBuffer.open(buf.path).begin_episode()


def test_create_refuses_existing_store(buf):
    with pytest.raises(BufferError, match="already exists"):
        RolloutBuffer.create(buf.path, buf.spec)


def test_bulk_add_steps_equals_single_steps(tmp_path):
    spec = tiny_spec()
    steps = episode_steps(spec, 2) * 3  # 6 steps with raw_action
    with RolloutBuffer.create(tmp_path / "a", spec, steps_per_chunk=4, background_flush=False) as a:
        ep = a.begin_episode()
        for s in steps:
            ep.add_step(**s)
        ep.commit(**episode_meta(2))
    with RolloutBuffer.create(tmp_path / "b", spec, steps_per_chunk=4) as b:
        ep = b.begin_episode()
        ep.add_steps(images={c: np.stack([s["images"][c] for s in steps]) for c in spec.camera_names},
                     **{k: np.stack([s[k] for s in steps]) for k in ("proprio", "action", "log_prob", "raw_action")},
                     t_capture=[s["t_capture"] for s in steps], t_decision=[s["t_decision"] for s in steps],
                     executed=[s["executed"] for s in steps])
        ep.commit(**episode_meta(2))
    ra, rb = RolloutBuffer.open(tmp_path / "a").read_episode(0), RolloutBuffer.open(tmp_path / "b").read_episode(0)
    for k in ra:
        np.testing.assert_array_equal(ra[k], rb[k], err_msg=k)


def test_t_label_known_values_and_default(buf):
    """The label time lands in the episode table as given; no label time (the default or None) is NaN."""
    for t_label in (1795313970.25, None, float("nan"), 3):
        ep = buf.begin_episode()
        ep.add_step(**_good(buf))
        ep.commit(**episode_meta(0), **({} if t_label is None else {"t_label": t_label}))
    np.testing.assert_array_equal(RolloutBuffer.open(buf.path).episodes.t_label, [1795313970.25, np.nan, np.nan, 3.0])
    assert buf.episodes.t_label.dtype == np.float64
    assert verify(buf.path) == []
