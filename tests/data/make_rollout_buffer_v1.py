"""Writes tests/data/rollout_buffer_v1: the format-version-1 fixture store (run once; commit the result).

    .venv/bin/python tests/data/make_rollout_buffer_v1.py

tests/buffer/test_buffer_fixture.py reads it and checks every value, so a change that breaks
reading version-1 stores fails. Never regenerate it to make that test pass.
"""

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "buffer"))

from buffer_helpers import tiny_spec, write_episode  # noqa: E402

from robot_rl.buffer import RolloutBuffer  # noqa: E402

out = HERE / "rollout_buffer_v1"
shutil.rmtree(out, ignore_errors=True)
with RolloutBuffer.create(out, tiny_spec(), steps_per_chunk=4) as buf:
    for e in range(3):
        write_episode(buf, e)
(out / "writer.lock").unlink()
print(f"{out}: {buf.num_episodes} episodes, {buf.num_steps} steps")
