"""Writes tests/data/rollout_buffer_v4: the format-version-4 fixture store (run once; commit the result).

    .venv/bin/python tests/data/make_rollout_buffer_v4.py

Version 4 added the episode column ``detector_p`` and the label sources ``detector`` and
``detector_confirmed`` (docs/rollout_buffer.md). The store holds the same 3 episodes as the
version-1 to version-3 fixtures, with label times, sampling temperatures and detector
probabilities from ``buffer_helpers.episode_t_label`` / ``episode_temperature`` /
``episode_detector_p`` (only episode 2, operator-labelled, has a detector probability). tests/buffer/test_buffer_fixture.py reads every value of all fixtures, so a change
that breaks reading any version fails. Never regenerate it to make that test pass.
"""

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "buffer"))

from buffer_helpers import tiny_spec, write_episode  # noqa: E402

from robot_rl.buffer import FORMAT_VERSION, RolloutBuffer  # noqa: E402

assert FORMAT_VERSION == 4, f"this script writes the version-4 fixture; the code writes version {FORMAT_VERSION}"
out = HERE / "rollout_buffer_v4"
shutil.rmtree(out, ignore_errors=True)
with RolloutBuffer.create(out, tiny_spec(), steps_per_chunk=4) as buf:
    for e in range(3):
        write_episode(buf, e)
(out / "writer.lock").unlink()
print(f"{out}: {buf.num_episodes} episodes, {buf.num_steps} steps")
