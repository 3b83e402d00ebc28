"""`robot-rl eval`: success rates of a checkpoint, the scripted expert or random actions on a suite."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.config import parse_yaml
from robot_rl.env import Context, Suite, make_suite
from robot_rl.errors import ConfigError
from robot_rl.rollout.collector import EpisodeResult, RolloutJob, SampledChunks
from robot_rl.spec import EmbodimentSpec

log = logging.getLogger(__name__)


class RandomSampler:
    """Uniformly random chunks within the spec's action limits (a floor for success rates)."""

    def __init__(self, spec: EmbodimentSpec, seed: int = 0) -> None:
        self.spec = spec
        self.rng = np.random.default_rng(seed)

    def __call__(self, observations: list) -> SampledChunks:
        h, a = self.spec.chunk_shape
        action = self.rng.uniform(self.spec.action_low, self.spec.action_high, size=(len(observations), h, a))
        action = action.astype(np.float32)  # (B, H, A)
        return SampledChunks(action, np.zeros_like(action))


def save_video(result: EpisodeResult, out_dir: Path, fps: float) -> Path:
    """One H.264 MP4 per episode (robot_rl.video): the cameras side by side at every policy decision."""
    from robot_rl.video import write_mp4

    frames = [np.concatenate([s.obs.images[c] for c in sorted(s.obs.images)], axis=1) for s in result.steps]
    path = out_dir / f"{result.job.context.task}_{result.job.context.init_id}_{'ok' if result.success else 'fail'}.mp4"
    return write_mp4(frames, path, fps)


def run_scripted(suite: Suite, contexts: list[Context], noise: float, seed: int, on_episode: Any = None) -> list[EpisodeResult]:
    """The suite's scripted expert, in this process (experts read privileged simulator state)."""
    from robot_rl.rollout.collector import StepRecord

    env = suite.make_env()
    results = []
    h = suite.spec.chunk_length
    try:
        for i, ctx in enumerate(contexts):
            expert = suite.expert(ctx.task, noise=noise, seed=seed + i)  # type: ignore[attr-defined]
            obs = env.reset(ctx)
            expert.reset(env)
            steps, t, done, success = [], 0, False, False
            while not done:
                steps.append(StepRecord(obs, np.zeros(suite.spec.chunk_shape, np.float32), np.zeros(suite.spec.chunk_shape, np.float32),
                                        None, None, obs.timestamp, obs.timestamp))
                for k in range(h):
                    r = env.step(expert.act(obs), render=k == h - 1)
                    t += 1
                    done, success = r.done, r.success
                    if done:
                        break
                obs = r.obs
            result = EpisodeResult(RolloutJob(ctx), success, t, timed_out=not success, steps=steps)
            if on_episode:
                on_episode(result)
            results.append(result)
    finally:
        env.close()
    return results


def parse_suite_options(items: list[str]) -> dict[str, Any]:
    """``--suite-option`` values to suite options, e.g. ``["randomization.enabled=true", "randomization.seed=3"]``
    -> ``{"randomization": {"enabled": True, "seed": 3}}``.

    Values are parsed as YAML; dotted keys build nested mappings. The suite validates the result.
    """
    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--suite-option: expected KEY=VALUE (e.g. randomization.enabled=true), got {item!r}")
        value = parse_yaml(text, f"--suite-option {key}: value {text!r}")
        node = options
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--suite-option {key}: {'.'.join(parts[:i + 1])} is already set to a value")
        if isinstance(node.get(parts[-1]), dict):
            raise ConfigError(f"--suite-option {key}: conflicts with the options set under {key}.*")
        node[parts[-1]] = value
    return options


def open_record_buffer(path: str | Path, spec: EmbodimentSpec) -> Any:
    """The rollout buffer ``--record`` appends to: created for ``spec`` if missing, else opened (its spec must match)."""
    from robot_rl.buffer import RolloutBuffer

    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        return RolloutBuffer.open(path, mode="a", spec=spec)
    return RolloutBuffer.create(path, spec)


def chain_callbacks(*callbacks: Any) -> Any:
    """One ``on_episode`` callback calling each given one (``None`` entries skipped) in order; None if none."""
    live = [c for c in callbacks if c is not None]
    if not live:
        return None

    def on_episode(result: EpisodeResult) -> None:
        for c in live:
            c(result)

    return on_episode


def _eval(args: argparse.Namespace) -> int:
    options = parse_suite_options(args.suite_option)
    suite = make_suite(args.suite, **options)
    tasks = [suite.task(args.task).task] if args.task else [t.task for t in suite.tasks()]
    if args.episodes < 1:
        raise ConfigError(f"--episodes: got {args.episodes}; must be >= 1")
    contexts = [c for t in tasks for c in suite.contexts(t, split=args.split)[: args.episodes]]
    video_dir = Path(args.video) if args.video else None
    on_episode = None
    if video_dir:
        video_dir.mkdir(parents=True, exist_ok=True)
        fps = suite.spec.control_rate_hz / suite.spec.chunk_length

        def on_episode(result: EpisodeResult) -> None:
            save_video(result, video_dir, fps)

    policy = None
    if args.policy not in ("scripted", "random"):
        import torch

        from robot_rl.policies import load_policy

        torch.set_num_threads(1)  # the env workers use the other cores
        policy = load_policy(args.policy).eval()
        policy.spec.check_compatible(suite.spec, "suite spec")
    buffer = recorder = None
    if args.record:
        from robot_rl.train.recorder import EpisodeRecorder

        # The simulator judged every episode, so the labels are 'sim' whatever sampled the actions:
        # held-out rollouts of any checkpoint become labelled data (e.g. for `robot-rl detector train`).
        buffer = open_record_buffer(args.record, suite.spec)
        recorder = EpisodeRecorder(buffer, {t.task: t.instruction for t in suite.tasks()}, label_source="sim",
                                   policy_version=policy.version if policy is not None else 0)
    on_episode = chain_callbacks(on_episode, recorder)
    try:
        table = _run(args, suite, options, contexts, policy, on_episode)
    finally:
        if buffer is not None:
            buffer.close()
    if recorder is not None:
        table["recorded"] = {"buffer": str(args.record), "episodes": len(recorder.recorded),
                             "first_episode": recorder.recorded[0].episode if recorder.recorded else None}
    if args.json:
        print(json.dumps(table, indent=1))
    else:
        print(f"{'task':<28} success  episodes")
        for task, row in table["per_task"].items():
            print(f"{task:<28} {row['success_rate']:7.2f}  {row['episodes']:8d}")
        print(f"{'overall':<28} {table['success_rate']:7.2f}  {table['episodes']:8d}")
        if recorder is not None:
            print(f"recorded {len(recorder.recorded)} episodes (label source 'sim') into {args.record}")
    return 0


def _run(args: argparse.Namespace, suite: Suite, options: dict[str, Any], contexts: list[Context], policy: Any,
         on_episode: Any) -> dict[str, Any]:
    """Run one episode per context with the expert, random actions or ``policy``; the success table."""
    from robot_rl.train.evaluate import evaluate, success_table

    if args.policy == "scripted":
        if not callable(getattr(suite, "expert", None)):
            raise ConfigError(f"suite '{args.suite}' has no scripted expert")
        return success_table(run_scripted(suite, contexts, args.noise, args.seed, on_episode))
    else:
        from robot_rl.rollout.config import RolloutConfig, make_pool
        from robot_rl.rollout.worker import SuiteEnvFactory

        if args.policy == "random":
            sampler: Any = RandomSampler(suite.spec, args.seed)
        else:
            from robot_rl.rollout.policy_sampler import PolicySampler

            sampler = PolicySampler(policy, args.temperature, seed=args.seed, deterministic=args.deterministic)
        cfg = RolloutConfig(num_workers=args.workers)
        with make_pool(SuiteEnvFactory(args.suite, options), cfg) as pool:
            # The suite options given here are the whole env config: whatever randomization they
            # turn on is applied (unlike the trainer's evaluation, which is nominal unless eval.randomize).
            return evaluate(pool, sampler, contexts, on_episode=on_episode, randomize=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval", help="success rate per task of a checkpoint, the scripted expert or random actions",
        description="Run one episode per context (the first N contexts of each task in --split) and print a "
                    "per-task success table. --policy is 'scripted' (the suite's expert), 'random' (uniform "
                    "actions) or a policy checkpoint directory.")
    p.add_argument("--policy", required=True, help="scripted | random | CHECKPOINT_DIR")
    p.add_argument("--suite", required=True, help="suite name (see `robot-rl tasks`)")
    p.add_argument("--suite-option", action="append", default=[], metavar="KEY=VALUE",
                   help="suite option (repeatable; dotted keys nest, values are YAML), e.g. evaluate under domain "
                        "randomization on tabletop with --suite-option randomization.enabled=true "
                        "--suite-option randomization.seed=3, or --suite-option spec=tabletop_64 "
                        "(default: none, so the nominal scene; docs/tabletop.md lists the options)")
    p.add_argument("--task", help="only this task (default: every task)")
    p.add_argument("--episodes", type=int, default=50, help="episodes (contexts) per task (default 50)")
    p.add_argument("--split", choices=("train", "eval", "all"), default="eval", help="which contexts (default eval)")
    p.add_argument("--workers", type=int, default=2, help="env worker processes (default 2)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature for a checkpoint")
    p.add_argument("--deterministic", action="store_true", help="use the policy's deterministic action (act())")
    p.add_argument("--noise", type=float, default=0.0, help="scripted expert action noise")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the sampling policy, the random actions or the expert noise (default 0)")
    p.add_argument("--json", action="store_true", help="print the table as JSON (success_rate overall and per task)")
    p.add_argument("--video", metavar="DIR", help="save one H.264 MP4 per episode (cameras side by side, one frame "
                                                  "per decision; needs PyAV: pip install av)")
    p.add_argument("--record", metavar="BUF",
                   help="append every evaluated episode (observations, chunks, the simulator's success label with "
                        "label source 'sim') to this rollout buffer (created if missing; an existing one must have "
                        "the suite's spec)")
    p.set_defaults(func=_eval)
