"""Write finished rollouts into the rollout buffer: the same format the robot's policy node writes."""

from __future__ import annotations

from dataclasses import dataclass

from robot_rl.buffer import RolloutBuffer
from robot_rl.rollout.collector import EpisodeResult


@dataclass
class RecordedEpisode:
    """Where a rollout landed in the buffer, and its outcome."""

    episode: int
    group_id: str
    context_id: str
    reward: int
    env_steps: int


class EpisodeRecorder:
    """``collect(..., on_episode=recorder)`` appends every finished episode to ``buffer``.

    :param label_source: ``sim`` for simulator-judged success, ``expert`` for demonstrations.
    :param policy_version: the version of the policy that sampled the rollouts.
    :param temperature: the temperature it sampled at (recorded per episode; the update refuses
        episodes sampled at another temperature than ``loop.temperature``). None for demonstrations.

    The label time ``t_label`` is when the simulator determined the outcome (``EpisodeResult.t_end``:
    success detected or the step limit reached, wall clock like the steps' ``t_decision``); NaN for
    a result that carries no end time.
    """

    def __init__(self, buffer: RolloutBuffer, instruction_of: dict[str, str], label_source: str = "sim",
                 policy_version: int = 0, temperature: float | None = None) -> None:
        self.buffer = buffer
        self.instruction_of = instruction_of
        self.label_source = label_source
        self.policy_version = policy_version
        self.temperature = temperature
        self.recorded: list[RecordedEpisode] = []

    def __call__(self, result: EpisodeResult) -> None:
        ctx = result.job.context
        writer = self.buffer.begin_episode()
        try:
            for step in result.steps:
                writer.add_step(images=step.obs.images, proprio=step.obs.proprio, action=step.action,
                                log_prob=step.log_prob, tokens=step.tokens, raw_action=step.raw_action,
                                t_capture=step.t_capture, t_decision=step.t_decision, executed=step.executed)
            reward = int(result.success)
            idx = writer.commit(
                task=ctx.task, context_id=ctx.id, init_id=ctx.init_id,
                instruction=result.steps[0].obs.instruction if result.steps else self.instruction_of.get(ctx.task, ""),
                group_id=result.job.group_id, reward=reward, label_source=self.label_source,
                policy_version=self.policy_version, status="ok" if result.success else "timeout",
                env_steps=result.env_steps, t_label=result.t_end if result.t_end > 0 else None,
                temperature=self.temperature,
            )
        except BaseException:
            writer.abort()
            raise
        self.recorded.append(RecordedEpisode(idx, result.job.group_id, ctx.id, reward, result.env_steps))
