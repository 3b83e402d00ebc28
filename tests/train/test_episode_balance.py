"""Episode balancing of LOOP advantages: every episode carries the same total weight, whatever its length."""

import numpy as np
import torch

from robot_rl.algorithms.loop import LoopConfig
from robot_rl.buffer import RolloutBuffer
from robot_rl.spec import load_spec
from robot_rl.train.batch import EpisodeGroup, episode_balance, groups_to_batch


def test_episode_balance_known_answer():
    # Episode 7: two full chunks of 8 (16 actions); episode 3: five chunks, the last cut to 4 (36 actions).
    step_episode = torch.tensor([7, 7, 3, 3, 3, 3, 3])
    executed = torch.tensor([8, 8, 8, 8, 8, 8, 4])
    w = episode_balance(step_episode, executed)
    mean = (16 + 36) / 2
    torch.testing.assert_close(w, torch.tensor([mean / 16] * 2 + [mean / 36] * 5))
    # Each episode's actions now weigh the same in total: sum over its steps of weight x executed actions.
    assert torch.isclose((w * executed)[:2].sum(), (w * executed)[2:].sum())
    # A caller-given mean (data-parallel ranks pass the global one) replaces the local mean.
    torch.testing.assert_close(episode_balance(step_episode, executed, 10.0)[:2], torch.tensor([10 / 16] * 2))


def _buffer_with_lengths(path, lengths):
    spec = load_spec("tabletop_64")
    buf = RolloutBuffer.create(path, spec)
    h, a = spec.chunk_length, spec.action_dim
    images = {c.name: np.zeros((c.height, c.width, 3), np.uint8) for c in spec.cameras}
    ids = []
    for i, (n_steps, reward) in enumerate(lengths):
        ep = buf.begin_episode()
        for _ in range(n_steps):
            ep.add_step(images=images, proprio=np.zeros(spec.proprio_dim, np.float32),
                        action=np.zeros((h, a), np.float32), log_prob=np.full((h, a), -1.0, np.float32), t_capture=0.0)
        ids.append(ep.commit(task="pick_red", context_id="pick_red/0", init_id=0, instruction="reach",
                             group_id="g0", reward=reward, label_source="sim", policy_version=0))
    buf.close()
    return RolloutBuffer.open(path), ids


def test_balanced_batch_pushes_up_as_much_as_down(tmp_path):
    # One K=4 group: two quick successes (1 chunk) and two failures that ran 5 chunks each.
    buf, ids = _buffer_with_lengths(tmp_path / "b.zarr", [(1, 1), (5, 0), (1, 1), (5, 0)])
    rewards = np.array([[1, 0, 1, 0]], np.float32)
    plain = groups_to_batch(buf, [EpisodeGroup.of(ids, rewards[0])], LoopConfig(group_size=4))
    balanced = groups_to_batch(buf, [EpisodeGroup.of(ids, rewards[0])], LoopConfig(group_size=4, balance_episodes=True))
    # Per action (token-mean weighs every executed action the same), the plain batch leans negative:
    # the failures' extra chunks all carry their negative advantage.
    assert float(plain.advantages.sum()) < -1.0
    torch.testing.assert_close(balanced.advantages.sum(), torch.tensor(0.0))
    # The signs stay those of the episodes' advantages.
    assert torch.equal(torch.sign(balanced.advantages), torch.sign(plain.advantages))
