"""The hardware LOOP cycle, pure (no ROS): plan what to collect from the buffer, then update and save.

One cycle with policy version v (RIPT-VLA's LOOP step, with an operator instead of a simulator)::

    draw 0, 1, 2, ...   contexts in a deterministic order (seed, cycle)   -> group ids
                        PREFIX-c<cycle>-v<v>-d<draw>
    per group           K usable episodes of that group id and version v in the buffer
                        (status ok/timeout, sampled at loop.temperature,
                        first K by episode index)                          -> complete
                        all K rewards equal                                -> rejected (draw another)
                        the operator skipped it                            -> skipped  (draw another)
                        otherwise                                          -> the current group
    groups_needed groups with mixed rewards (or the attempt cap)         -> ready: update on them
    update              LOOP on exactly those groups -> policy v+1, saved (and exported) in RUN/policies

:func:`plan_cycle` is a function of the episode table and :class:`~robot_rl.train.hw_state.HwState`
only, so a restarted hw-train recomputes the same schedule from the buffer. Episodes of other
versions or other group ids (evaluation labelling, a policy that had not swapped yet) never count,
nor do episodes the policy node sampled at another temperature than ``loop.temperature`` (its
parameter changed by hand): their log-probs give no valid ratio at ``loop.temperature``, so the
schedule asks for replacement rollouts and its message says how many were left out (the update
itself, ``groups_to_batch``, would refuse them).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.algorithms.advantages import has_signal
from robot_rl.buffer import USABLE_STATUSES, EpisodeTable, RolloutBuffer
from robot_rl.env import Context
from robot_rl.errors import ConfigError
from robot_rl.policies import load_policy
from robot_rl.wire.hw_schedule import HwGroup, HwSchedule
from robot_rl.spec import load_spec
from robot_rl.train.batch import EpisodeGroup
from robot_rl.train.hw_config import HwTrainConfig
from robot_rl.train.hw_state import HwState, load_state, save_state
from robot_rl.train.learner import Learner

log = logging.getLogger(__name__)


def group_id(cfg: HwTrainConfig, cycle: int, version: int, draw: int) -> str:
    """The group id of draw ``draw`` in ``cycle`` under policy ``version`` (deterministic)."""
    return f"{cfg.group_prefix}-c{cycle}-v{version}-d{draw}"


def draw_context(cfg: HwTrainConfig, cycle: int, draw: int) -> Context:
    """The context of draw ``draw`` in ``cycle``: a seeded permutation per pass over the list (shuffle),
    or the list in order continuing across cycles (sequential)."""
    contexts = cfg.context_list
    n = len(contexts)
    if cfg.sampling == "sequential":
        return contexts[(cycle * cfg.groups_needed + draw) % n]
    order = np.random.default_rng([cfg.seed, cycle, draw // n]).permutation(n)
    return contexts[int(order[draw % n])]


@dataclass(frozen=True)
class PlannedGroup:
    """One drawn group and what the buffer holds for it."""

    draw: int
    group_id: str
    context: Context
    episode_ids: list[int]       # usable episodes of this group and version, first K by index
    rewards: list[int]
    group_size: int
    skipped: bool = False         # the operator skipped it: never used, whatever the buffer holds

    @property
    def complete(self) -> bool:
        return len(self.episode_ids) >= self.group_size

    @property
    def signal(self) -> bool:
        """Complete with mixed rewards: non-zero leave-one-out advantages."""
        return self.complete and not self.skipped and has_signal(self.rewards)

    def episode_group(self) -> EpisodeGroup:
        """What the update reads: the K episodes and their rewards."""
        return EpisodeGroup.of(self.episode_ids, self.rewards)


@dataclass
class CyclePlan:
    """The schedule to publish and, once ``ready``, the groups to update on."""

    schedule: HwSchedule
    groups: list[PlannedGroup] = field(default_factory=list)   # every drawn group, in draw order
    ready: bool = False           # enough signal groups (or the cap reached with some): run the update
    exhausted: bool = False       # the attempt cap reached without any signal group
    off_temperature: int = 0      # this cycle's episodes left out: sampled at another temperature

    @property
    def signal_groups(self) -> list[PlannedGroup]:
        return [g for g in self.groups if g.signal]


def _usable_by_group(table: EpisodeTable, version: int, prefix: str,
                     temperature: float) -> tuple[dict[str, tuple[list[int], list[int]]], int]:
    """group id -> (episode ids, rewards) of usable episodes of ``version`` whose id starts with ``prefix``,
    and how many such episodes were left out for a sampling temperature other than ``temperature``
    (NaN, a store written before format 3, is taken as ``temperature``)."""
    t = table.filter(policy_version=version)  # the cheap integer filter first: a long campaign's table is big
    t = t.filter(status=list(USABLE_STATUSES))
    out: dict[str, tuple[list[int], list[int]]] = {}
    off = 0
    for gid, ep, r, temp in zip(t["group_id"], t["episode"], t["reward"], t["temperature"]):
        gid = str(gid)
        if gid.startswith(prefix):
            if not np.isnan(temp) and not np.isclose(temp, temperature, rtol=1e-6, atol=0.0):
                off += 1
                continue
            ids, rewards = out.setdefault(gid, ([], []))
            ids.append(int(ep))
            rewards.append(int(r))
    return out, off


def label_report(buffer: RolloutBuffer, episodes: list[int]) -> dict[str, float]:
    """Who labelled ``episodes`` and how often a person disagreed with the success detector.

    ``labels/<source>``: episodes per label source; ``labels/operator_share``: the share a person judged
    (``operator`` + ``detector_confirmed``), the presses automatic mode did not save;
    ``labels/disagreements``: operator labels whose reward differs from the detector's more likely
    verdict at that moment (``detector_p`` >= 0.5), over the operator labels a detector scored
    (``labels/operator_with_detector``). Empty ``episodes``: zeros.
    """
    out = {f"labels/{src}": 0.0 for src in ("operator", "detector", "detector_confirmed", "sim")}
    out.update({"labels/operator_share": 0.0, "labels/operator_with_detector": 0.0, "labels/disagreements": 0.0})
    if not episodes:
        return out
    table = buffer.episodes
    idx = np.asarray(episodes, dtype=np.int64)
    src = np.asarray(table["label_source"])[idx]
    p = np.asarray(table["detector_p"], dtype=np.float64)[idx]
    reward = np.asarray(table["reward"])[idx]
    for name in ("operator", "detector", "detector_confirmed", "sim"):
        out[f"labels/{name}"] = float((src == name).sum())
    out["labels/operator_share"] = float(np.isin(src, ["operator", "detector_confirmed"]).mean())
    scored = (src == "operator") & ~np.isnan(p)
    out["labels/operator_with_detector"] = float(scored.sum())
    out["labels/disagreements"] = float((scored & ((p >= 0.5) != (reward == 1))).sum())
    return out


def plan_cycle(table: EpisodeTable, cfg: HwTrainConfig, state: HwState, status: str = "collecting") -> CyclePlan:
    """Compute the current cycle's schedule from the buffer's episode table (read-only) and the state.

    :param status: the schedule status to report while collecting (the ROS side passes
        ``training`` / ``deploying`` while it does those; the groups are the same).
    """
    k, v, cycle = cfg.group_size, state.policy_version, state.cycle
    usable, off_temperature = _usable_by_group(table, v, f"{cfg.group_prefix}-c{cycle}-v{v}-d", cfg.loop.temperature)
    skipped = set(state.skipped)
    planned: list[PlannedGroup] = []
    hw_groups: list[HwGroup] = []
    signal = 0
    current = -1
    draw = 0
    while signal < cfg.groups_needed and draw < cfg.attempt_cap:
        gid = group_id(cfg, cycle, v, draw)
        ctx = draw_context(cfg, cycle, draw)
        ids, rewards = usable.get(gid, ([], []))
        ids, rewards = ids[:k], rewards[:k]  # extra episodes (a re-record past K) never count
        g = PlannedGroup(draw, gid, ctx, ids, rewards, k, skipped=gid in skipped)
        planned.append(g)
        if gid in skipped:
            gstate = "skipped"  # for good: a late label of a skipped group does not bring it back
        elif g.complete:
            gstate = "complete" if g.signal else "rejected"
            signal += g.signal
        else:
            gstate = "collecting"
            current = len(hw_groups)
        hw_groups.append(HwGroup(group_id=gid, context_id=ctx.id, instruction=cfg.instructions[ctx.task],
                                 rollouts_done=len(ids), successes=int(sum(rewards)), state=gstate))
        draw += 1
        if current >= 0:
            break
    # Groups still to come (if the current one brings signal): listed so the panel can say "context c of C".
    more = min(cfg.groups_needed - signal - (1 if current >= 0 else 0), cfg.attempt_cap - draw)
    for d in range(draw, draw + max(0, more)):
        ctx = draw_context(cfg, cycle, d)
        hw_groups.append(HwGroup(group_id=group_id(cfg, cycle, v, d), context_id=ctx.id,
                                 instruction=cfg.instructions[ctx.task], state="pending"))
    ready = current < 0 and signal > 0
    exhausted = current < 0 and signal == 0
    if current >= 0:
        g = hw_groups[current]
        message = (f"cycle {cycle}: collect {k} rollouts of {g.context_id} "
                   f"({signal}/{cfg.groups_needed} groups with signal)")
    elif ready:
        message = f"cycle {cycle}: {signal} group(s) with signal: ready to update policy v{v}"
    else:
        message = (f"cycle {cycle}: {cfg.attempt_cap} groups drawn without signal (all K rewards equal): "
                   "no update possible")
    if off_temperature:
        message += (f"; {off_temperature} episode(s) sampled at another temperature than loop.temperature "
                    f"{cfg.loop.temperature:g} do not count (set the policy node's temperature to it)")
    schedule = HwSchedule(cycle=cycle, policy_version=v, group_size=k, groups_needed=cfg.groups_needed,
                          status=status if current >= 0 else ("training" if ready else "idle"), message=message,
                          groups=hw_groups, current=current)
    return CyclePlan(schedule, planned, ready, exhausted, off_temperature)


def skip_group(state: HwState, plan: CyclePlan, gid: str) -> HwState:
    """The state after the operator skipped group ``gid``; only the current group can be skipped.

    Raises :class:`ConfigError` naming the current group otherwise (a stale or duplicated request).
    """
    current = plan.schedule.current_group
    if current is None or current.group_id != gid:
        raise ConfigError(f"skip '{gid}': not the current group "
                          f"({current.group_id if current else 'none is being collected'})")
    return state.model_copy(update={"skipped": [*state.skipped, gid]})


def initial_state(cfg: HwTrainConfig) -> HwState:
    """Cycle 0 with the config's policy (its version read from the checkpoint)."""
    policy = load_policy(cfg.policy)
    return HwState(cycle=0, policy_version=int(policy.version), checkpoint=str(Path(cfg.policy).resolve()),
                   deploy_path=str(Path(cfg.policy).resolve()))


def open_or_init_state(cfg: HwTrainConfig) -> tuple[HwState, bool]:
    """The run's state (resumed: True) or a new one written to the run directory (False)."""
    state = load_state(cfg.run_dir)
    if state is not None:
        return state, True
    state = initial_state(cfg)
    if cfg.export == "onnx":
        state = state.model_copy(update={"deploy_path": str(_export(cfg, load_policy(state.checkpoint)))})
    save_state(cfg.run_dir, state)
    return state, False


def _export(cfg: HwTrainConfig, policy: Any) -> Path:
    from robot_rl.deploy.export import export_onnx  # lazy: onnx is an optional dependency

    return export_onnx(policy, cfg.run_path / "policies" / f"v{policy.version}.onnx").resolve()


def check_specs(cfg: HwTrainConfig, buffer: RolloutBuffer, policy_spec: Any) -> None:
    """The buffer, the policy and (if given) the config's spec must describe the same embodiment."""
    policy_spec.check_compatible(buffer.spec, "buffer spec")
    if cfg.spec is not None:
        try:
            spec = load_spec(cfg.spec)
        except KeyError as err:
            raise ConfigError(f"spec: {err.args[0]}") from None
        spec.check_compatible(policy_spec, "policy spec")


def next_cycle(cfg: HwTrainConfig, state: HwState) -> HwState:
    """Give up on a cycle that drew its cap of groups without signal: same policy, fresh draws."""
    log.warning("cycle %d: %d groups without signal; starting cycle %d with the same policy v%d",
                state.cycle, cfg.attempt_cap, state.cycle + 1, state.policy_version)
    new = state.model_copy(update={"cycle": state.cycle + 1, "skipped": [],
                                   "history": [*state.history, {"cycle": state.cycle, "update": False}]})
    save_state(cfg.run_dir, new)
    return new


def update_cycle(cfg: HwTrainConfig, state: HwState, plan: CyclePlan) -> tuple[HwState, dict[str, float]]:
    """Run the LOOP update on the plan's signal groups; save policy v+1 (and export it); advance the state.

    Writes ``RUN/policies/v<v+1>`` (+ ``.onnx`` with ``export: onnx``), ``RUN/optim/v<v+1>.pt`` (Adam's
    moments carry across cycles; the update of cycle c always starts from ``optim/v<v>.pt``, so a crash
    before the state is saved reruns the same update), a line of ``RUN/metrics.jsonl``, and the new state.
    """
    if not plan.ready:
        raise ConfigError(f"cycle {state.cycle}: not ready to update ({plan.schedule.message})")
    groups = plan.signal_groups
    v = state.policy_version
    t0 = time.monotonic()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed * 100_003 + state.cycle)
    optim_dir = cfg.run_path / "optim"
    learner = Learner.load(state.checkpoint, cfg.loop, optimizer_state=optim_dir / f"v{v}.pt")
    if int(learner.policy.version) != v:
        raise ConfigError(f"{state.checkpoint}: policy version {learner.policy.version}, but the run state says v{v}")
    buffer = RolloutBuffer.open(cfg.buffer)
    check_specs(cfg, buffer, learner.policy.spec)
    rewards = np.array([g.rewards for g in groups], dtype=np.float32)  # (G, K)
    metrics = learner.update(buffer, [g.episode_group() for g in groups])
    learner.policy.version = v + 1
    ckpt = learner.save(cfg.run_path / "policies" / f"v{v + 1}",
                        extra={"hw_train": {"cycle": state.cycle, "groups": [g.group_id for g in groups]}}).resolve()
    learner.save_optimizer(optim_dir / f"v{v + 1}.pt")
    deploy = _export(cfg, learner.policy) if cfg.export == "onnx" else ckpt
    metrics.update({"rollout/groups": float(len(groups)),
                    "rollout/attempts": float(len(plan.groups)),
                    "rollout/rejected_groups": float(sum(1 for g in plan.groups if g.complete and not g.signal
                                                         and not g.skipped)),
                    "rollout/skipped_groups": float(sum(1 for g in plan.groups if g.skipped)),
                    "rollout/effective_batch_size": float(rewards.size),
                    "charts/train_success_rate": float(rewards.mean()),
                    "charts/policy_version": float(v), "time/update_s": time.monotonic() - t0})
    metrics.update(label_report(buffer, [e for g in groups for e in g.episode_ids]))
    record = {"kind": "train", "step": state.cycle, "time": time.time(), **metrics}
    with (cfg.run_path / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
    new = state.model_copy(update={
        "cycle": state.cycle + 1, "policy_version": v + 1, "checkpoint": str(ckpt), "deploy_path": str(deploy),
        "skipped": [], "history": [*state.history, {"cycle": state.cycle, "update": True, "from_version": v,
                                                   "groups": [g.group_id for g in groups],
                                                   "success_rate": float(rewards.mean())}]})
    save_state(cfg.run_dir, new)
    log.info("cycle %d: updated policy v%d -> v%d on %d groups in %.1f s; labels: %d operator, %d detector, "
             "%d detector_confirmed (a person judged %.0f%%), %d of %d operator labels disagreed with the detector",
             state.cycle, v, v + 1, len(groups), time.monotonic() - t0, metrics["labels/operator"],
             metrics["labels/detector"], metrics["labels/detector_confirmed"], 100 * metrics["labels/operator_share"],
             metrics["labels/disagreements"], metrics["labels/operator_with_detector"])
    return new, metrics
