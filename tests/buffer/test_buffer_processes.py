"""Real writer processes: one writer enforced, a concurrent reader, and kill -9 at random moments."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from buffer_helpers import check_episode, tiny_spec, write_episode

from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.errors import BufferError

WRITER = Path(__file__).resolve().parent / "buffer_crash_writer.py"


def start_writer(path, *args):
    proc = subprocess.Popen([sys.executable, str(WRITER), str(path), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("ready"), f"writer did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    return proc, int(line.split()[1])


def test_second_writer_is_refused_until_the_first_dies(tmp_path):
    path = tmp_path / "store"
    proc, _ = start_writer(path, 10**9, 0.01)
    try:
        with pytest.raises(BufferError, match=rf"another writer holds the lock \(pid {proc.pid}\)"):
            RolloutBuffer.open(path, mode="a")
        assert RolloutBuffer.open(path).spec.name == "tiny"  # readers are never blocked
    finally:
        proc.kill()
        proc.wait()
    with RolloutBuffer.open(path, mode="a") as buf:  # the kernel released the dead writer's lock
        write_episode(buf, buf.num_episodes)
    assert verify(path) == []


def test_reader_follows_a_writer_in_another_process(tmp_path):
    path = tmp_path / "store"
    with RolloutBuffer.create(path, tiny_spec(), steps_per_chunk=4):
        pass
    reader = RolloutBuffer.open(path)
    proc, _ = start_writer(path, 25, 0.005)
    seen, checked = set(), 0
    while True:
        running = proc.poll() is None
        reader.refresh()
        seen.add(reader.num_episodes)
        for i in range(checked, reader.num_episodes):  # every committed episode is complete and exact
            check_episode(reader, i, i)
        checked = reader.num_episodes
        batch_rows = sum(len(b["episode"]) for b in reader.iter_batches(8))
        assert batch_rows == reader.num_steps
        if not running:
            break
    assert proc.returncode == 0, proc.stderr.read()
    assert reader.num_episodes == 25
    assert len(seen) > 3, f"reader never saw the store mid-recording: {sorted(seen)}"
    assert verify(path) == []


@pytest.mark.slow
def test_kill_9_at_random_moments_never_loses_committed_episodes(tmp_path):
    path = tmp_path / "store"
    rng = random.Random(1234)
    checked, kills, deadline = 0, 0, time.monotonic() + 45
    while kills < 25 and time.monotonic() < deadline:  # ~1-2 s per kill; fewer on a loaded machine
        proc, committed = start_writer(path)
        assert committed >= checked  # nothing committed is ever lost
        time.sleep(rng.uniform(0.0, 0.5))  # from mid-step to mid-commit: anywhere
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        # Reopening for append repairs the partial episode; every committed one is intact.
        with RolloutBuffer.open(path, mode="a") as buf:
            n = buf.num_episodes
            for name, arr in buf._session.steps.items():
                assert arr.shape[0] == buf.num_steps, f"{name} not truncated"
            assert not list(path.rglob("*.partial"))
        assert verify(path) == []
        reader = RolloutBuffer.open(path)
        for i in range(checked, n):
            check_episode(reader, i, i)
        checked = n
    assert kills >= 10
    assert checked >= 10, "the writer committed too little between kills to test anything"
    with RolloutBuffer.open(path, mode="a") as buf:  # appending continues after the last crash
        write_episode(buf, buf.num_episodes)
    reader = RolloutBuffer.open(path)
    for i in range(reader.num_episodes):
        check_episode(reader, i, i)
    assert verify(path) == []
