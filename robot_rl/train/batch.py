"""Turn K-groups of buffer episodes into a :class:`~robot_rl.algorithms.loop.LoopBatch`.

This is the one path from stored rollouts to an update, for simulation and hardware alike: the
trainer never uses in-memory rollouts, only what the buffer holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from robot_rl.algorithms.loop import LoopBatch, LoopConfig, loop_advantages
from robot_rl.buffer import RolloutBuffer
from robot_rl.errors import AlgorithmError, ConfigError
from robot_rl.policies.sample import PolicySample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpisodeGroup:
    """K episodes of one context in a rollout buffer and their rewards: the unit an update consumes.

    episodes: buffer episode indices, in rollout order (K,).
    rewards:  float32 (K,), in the same order (sim success or the operator's label).
    """

    episodes: tuple[int, ...]
    rewards: np.ndarray

    @classmethod
    def of(cls, episodes: Sequence[int], rewards: Sequence[float] | np.ndarray) -> EpisodeGroup:
        """A group from any sequence of episode ids and rewards."""
        return cls(tuple(int(e) for e in episodes), np.asarray(rewards, dtype=np.float32))


def groups_to_batch(buffer: RolloutBuffer, groups: Sequence[EpisodeGroup], cfg: LoopConfig,
                    mean_actions: float | None = None) -> LoopBatch:
    """Build the update batch.

    :param groups: G groups of K episodes each (one per context).
    :param mean_actions: with ``cfg.balance_episodes``, the mean executed actions per episode of
        the whole update batch (data-parallel ranks pass the global value); None = of these groups.
    """
    for i, g in enumerate(groups):
        if len(g.episodes) != cfg.group_size or np.shape(g.rewards) != (cfg.group_size,):
            raise AlgorithmError(f"group {i}: {len(g.episodes)} episodes with rewards of shape {np.shape(g.rewards)}; "
                                 f"every group needs K = group_size = {cfg.group_size} of each")
    rewards = np.array([g.rewards for g in groups], dtype=np.float32).reshape(len(groups), cfg.group_size)  # (G, K)
    adv = loop_advantages(torch.from_numpy(rewards), cfg).float()  # (G, K)
    episode_ids = [int(e) for g in groups for e in g.episodes]
    adv_of = dict(zip(episode_ids, adv.reshape(-1).tolist()))

    table = buffer.episodes
    check_temperature(table["temperature"][episode_ids], episode_ids, cfg.temperature)
    data = buffer.read_steps(episode_ids)  # rows ordered as episode_ids, each episode contiguous
    step_episode = data["episode"].numpy()  # (N,)
    cams = buffer.spec.camera_names
    obs = {
        "images": {c: data[f"images/{c}"] for c in cams},  # uint8 (N, H, W, 3)
        "proprio": data["proprio"],  # (N, D)
        "instruction": [str(table["instruction"][e]) for e in step_episode],
    }
    has_tokens = bool(np.all(table["has_tokens"][episode_ids]))
    sample = PolicySample(
        action=data["action"],  # (N, H, A)
        log_prob=data["log_prob"].float(),  # (N, H, A) per-dimension log pi_psi
        tokens=data["tokens"].long() if has_tokens else None,
        raw_action=_raw_actions(data, table["has_raw_action"][step_episode]),
    )
    advantages = torch.tensor([adv_of[int(e)] for e in step_episode], dtype=torch.float32)  # (N,)
    # Actions of a chunk that never ran (the episode ended first) earn no credit: loop_update masks them.
    executed = torch.as_tensor(data["executed"]).long()  # (N,)
    if cfg.balance_episodes:
        advantages = advantages * episode_balance(torch.as_tensor(step_episode), executed, mean_actions)
    return LoopBatch(obs=obs, sample=sample, advantages=advantages, executed=executed)


def check_temperature(temperatures: np.ndarray, episode_ids: Sequence[int], temperature: float) -> None:
    """Refuse episodes sampled at another temperature than ``temperature`` (the one the update scores at).

    The stored log-probs are log pi_psi at the *sampling* temperature; scored at another one, every
    ratio of the episode is off from its first epoch (not 1), and nothing downstream could tell.
    An update scores one batch at one temperature, so a mismatch is an error, not a rescore.
    NaN (a store written before format 3, or an episode no policy sampled) cannot be checked.
    """
    temperatures = np.asarray(temperatures, dtype=np.float64)
    known = ~np.isnan(temperatures)
    off = known & ~np.isclose(temperatures, temperature, rtol=1e-6, atol=0.0)
    if off.any():
        ids = np.asarray(episode_ids)[off]
        found = ", ".join(f"{t:g}" for t in np.unique(temperatures[off]))
        raise ConfigError(f"loop.temperature: got {temperature:g}, but episodes {ids[:10].tolist()}"
                          f"{' ...' if len(ids) > 10 else ''} were sampled at {found} (the buffer's temperature "
                          "column); their log-probs only give ratios at that temperature: set loop.temperature to it, "
                          "or train on episodes sampled at the same temperature")
    if not known.all():
        log.warning("%d of %d episodes carry no sampling temperature (written before rollout buffer format 3): "
                    "assuming they were sampled at loop.temperature %g", int((~known).sum()), len(temperatures),
                    temperature)


def _raw_actions(data: dict, step_has_raw: np.ndarray) -> torch.Tensor | None:
    """The pre-clip samples (N, H, A) to score, or None when no episode stored any.

    A continuous head scores ``raw_action`` when given and ``action`` otherwise; an episode
    without ``raw_action`` was sampled (and its log-prob taken) on ``action``. In a batch mixing
    both, each row keeps its own: a batch-wide None would score clipped actions against log-probs
    taken on raw values.
    """
    if not step_has_raw.any():
        return None
    raw = torch.as_tensor(data["raw_action"])
    if step_has_raw.all():
        return raw
    keep = torch.as_tensor(np.asarray(step_has_raw, dtype=bool))[:, None, None]  # (N, 1, 1)
    return torch.where(keep, raw, torch.as_tensor(data["action"]).to(raw.dtype))


def episode_balance(step_episode: torch.Tensor, executed: torch.Tensor, mean_actions: float | None = None) -> torch.Tensor:
    """Per-step weights (N,) that give every episode the same total weight under a per-action loss.

    A step of an episode with ``n_e`` executed actions gets ``mean / n_e`` (``mean``: ``mean_actions``
    or the mean of ``n_e`` over these episodes): the weights of one episode's actions sum to the
    mean episode length, the same for every episode. With RLOO advantages (zero sum per group)
    the batch then pushes up exactly as much as it pushes down, however much longer the failures
    (which run to the episode limit) are than the successes.
    """
    episodes, inverse = torch.unique(step_episode, return_inverse=True)  # inverse: (N,) episode slot per step
    actions = torch.zeros(len(episodes), dtype=torch.float64).index_add_(0, inverse, executed.double())  # (E,)
    actions = actions.clamp(min=1.0)
    mean = float(actions.mean()) if mean_actions is None else mean_actions
    return (mean / actions)[inverse].float()  # (N,)
