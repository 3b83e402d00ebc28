"""The rollout buffer: one zarr v3 store format for simulated and real episodes (docs/rollout_buffer.md).

    from robot_rl.buffer import RolloutBuffer
    buf = RolloutBuffer.create(path, spec)
    ep = buf.begin_episode(); ep.add_step(images=..., proprio=..., action=..., log_prob=...)
    ep.commit(task="pick", reward=1, label_source="sim")
"""

from robot_rl.buffer.format import FORMAT_NAME, FORMAT_VERSION, LABEL_SOURCES, STATUSES, USABLE_STATUSES, Commit
from robot_rl.buffer.merge import merge
from robot_rl.buffer.store import RolloutBuffer
from robot_rl.buffer.table import EpisodeTable, Group
from robot_rl.buffer.verify import verify
from robot_rl.buffer.writer import EpisodeWriter

__all__ = [
    "RolloutBuffer", "EpisodeWriter", "EpisodeTable", "Group", "Commit", "verify", "merge",
    "FORMAT_NAME", "FORMAT_VERSION", "LABEL_SOURCES", "STATUSES", "USABLE_STATUSES",
]
