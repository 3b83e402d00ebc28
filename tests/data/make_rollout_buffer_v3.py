"""Writes tests/data/rollout_buffer_v3: the format-version-3 fixture store (run once; commit the result).

    .venv/bin/python tests/data/make_rollout_buffer_v3.py

Version 3 added the episode column ``temperature`` (docs/rollout_buffer.md). The store holds the
same 3 episodes as the version-1 and version-2 fixtures, with label times and sampling
temperatures from ``buffer_helpers.episode_t_label`` / ``episode_temperature`` (episode 1 has
neither: NaN). tests/buffer/test_buffer_fixture.py reads every value of all fixtures, so a change
that breaks reading any version fails. Never regenerate it to make that test pass.
"""

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "buffer"))

from buffer_helpers import tiny_spec, write_episode  # noqa: E402

from robot_rl.buffer import FORMAT_VERSION, RolloutBuffer  # noqa: E402

assert FORMAT_VERSION == 3, f"this script writes the version-3 fixture; the code writes version {FORMAT_VERSION}"
out = HERE / "rollout_buffer_v3"
shutil.rmtree(out, ignore_errors=True)
with RolloutBuffer.create(out, tiny_spec(), steps_per_chunk=4) as buf:
    for e in range(3):
        write_episode(buf, e)
(out / "writer.lock").unlink()
print(f"{out}: {buf.num_episodes} episodes, {buf.num_steps} steps")
