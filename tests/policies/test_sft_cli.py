"""`robot-rl sft`, `calibrate-scale` and `export` end to end on a real zarr rollout buffer."""

import json

import numpy as np
import pytest
import torch
from policy_fixtures import small_spec, synthetic_demos

from robot_rl.buffer import RolloutBuffer
from robot_rl.cli import main
from robot_rl.deploy import load_runner
from robot_rl.policies import load_policy


def write_demo_buffer(path, episodes: int = 8, steps: int = 6, failed: int = 2):
    spec = small_spec()
    data = synthetic_demos(spec, n=episodes * steps, seed=1)
    buf = RolloutBuffer.create(path, spec)
    for e in range(episodes):
        ep = buf.begin_episode()
        sl = slice(e * steps, (e + 1) * steps)
        ep.add_steps(images={c: v[sl] for c, v in data.images.items()}, proprio=data.proprio[sl], action=data.actions[sl],
                     log_prob=np.zeros_like(data.actions[sl]))
        # failed episodes carry absurd actions: SFT must not train on them by default
        ep.commit(task="move", reward=int(e >= failed), label_source="expert", instruction=data.instructions[sl.start],
                  context_id=f"move/{e}", init_id=e)
    buf.close()
    return spec


@pytest.mark.slow
def test_sft_cli_trains_calibrates_and_exports(tmp_path, capsys):
    write_demo_buffer(tmp_path / "demos")
    policy_yaml = tmp_path / "cfg.yaml"
    policy_yaml.write_text("sft:\n  batch_size: 16\n  augment_shift: 2\n  progress: false\n"
                           "policy:\n  d_model: 32\n  n_layers: 1\n  n_heads: 2\n  cnn_channels: [8, 8, 16]\n"
                           "  image_grid: 2\n  max_instruction_length: 16\n")
    rc = main(["sft", "--buffer", str(tmp_path / "demos"), "--head", "laplace", "--out", str(tmp_path / "ckpt"),
               "--steps", "30", "--calibrate-steps", "20", "--threads", "1", "--config", str(policy_yaml)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "sft: 36 demo steps" in out  # 6 successful episodes x 6 steps; the 2 failures are left out
    assert "calibrate-scale: NLL" in out
    policy = load_policy(tmp_path / "ckpt")
    assert policy.head_kind == "laplace" and policy.config.d_model == 32
    assert not policy.spec.diff(small_spec())
    extra = json.loads((tmp_path / "ckpt" / "config.json").read_text())["extra"]["sft"]
    assert extra["loss_last"] < extra["loss_first"] and extra["nll_after"] < extra["nll_before"]
    # action bounds were fitted on the data, not left at the spec limits
    assert policy.stats.action_high[0] == pytest.approx(0.04, abs=0.01)

    before = policy.state_dict()
    rc = main(["calibrate-scale", "--checkpoint", str(tmp_path / "ckpt"), "--buffer", str(tmp_path / "demos"),
               "--steps", "5", "--out", str(tmp_path / "ckpt2")])
    assert rc == 0
    after = load_policy(tmp_path / "ckpt2").state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed and all(".scale." in k for k in changed), changed

    assert main(["export", "--checkpoint", str(tmp_path / "ckpt2"), "--out", str(tmp_path / "p.onnx")]) == 0
    runner = load_runner(tmp_path / "p.onnx")
    obs = {"images": {c.name: np.zeros((1, 32, 32, 3), np.uint8) for c in runner.spec.cameras},
           "proprio": np.zeros((1, 7), np.float32), "instruction": ["move right"]}
    assert runner.act(obs).shape == (1, 4, 7)


def test_sft_cli_refuses_a_missing_buffer_and_writes_nothing(tmp_path, capsys):
    assert main(["sft", "--buffer", str(tmp_path / "none"), "--out", str(tmp_path / "c")]) == 2
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_sft_cli_trains_the_hf_policy_from_local_pretrained_dirs(tmp_path, capsys):
    # `robot-rl sft --policy hf` on a buffer, with the SigLIP / Llama weights read by from_pretrained
    # from local directories named in the config's `policy` section (tiny random ones written here).
    from test_hf_vla import pretrained_dirs

    write_demo_buffer(tmp_path / "demos", episodes=4, steps=4, failed=0)
    vision_dir, lm_dir = pretrained_dirs(tmp_path)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"sft:\n  batch_size: 8\n  augment_shift: 0\n  warmup_steps: 1\n  progress: false\n"
                   f"policy:\n  vision_path: {vision_dir}\n  language_path: {lm_dir}\n  head: {{bins: 32}}\n")
    rc = main(["sft", "--buffer", str(tmp_path / "demos"), "--policy", "hf", "--head", "token", "--steps", "4",
               "--threads", "1", "--config", str(cfg), "--out", str(tmp_path / "ckpt")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "sft: hf policy, token head" in out and "sft: 16 demo steps" in out
    policy = load_policy(tmp_path / "ckpt")
    assert policy.policy_type == "hf" and policy.head_kind == "token" and policy.head_config.bins == 32
    assert policy.tokenizer.kind == "hf"  # the LM directory's tokenizer travels with the checkpoint
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["policy_type"] == "hf"
