"""The success detector on real zarr buffers: split by context, refusals, save/load, train/eval end to end,
and the `robot-rl detector` command (through its register() function)."""

import argparse
import json

import numpy as np
import pytest
import torch
from detector_fixtures import tiny_spec, write_synthetic

from robot_rl.buffer import RolloutBuffer
from robot_rl.detector import DetectorConfig, evaluate_detector, load_detector, save_detector, train_detector
from robot_rl.detector.cli import register
from robot_rl.detector.data import check_class_counts, load_episodes, split_by_context
from robot_rl.detector.model import SuccessDetector
from robot_rl.env import make_suite
from robot_rl.errors import BufferError, ConfigError, SpecMismatchError

FAST = {"train": {"steps": 400, "batch_size": 64, "lr": 3e-3, "augment_shift": 1},
        "model": {"cnn_channels": [8, 16, 16], "d_model": 32, "hidden": 64},
        "calibration": {"target_accuracy": 0.9}}


def _run_cli(argv):
    parser = argparse.ArgumentParser(prog="robot-rl")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    write_synthetic(root / "train.zarr", range(0, 60), per_context=3, seed=0)
    write_synthetic(root / "heldout.zarr", range(100, 140), per_context=2, seed=1)
    torch.set_num_threads(1)
    cfg = DetectorConfig.model_validate(FAST)
    detector, report = train_detector([root / "train.zarr"], cfg)
    save_detector(detector, root / "det", report)
    return root, detector, report


def test_split_by_context_keeps_contexts_whole_and_both_classes_on_both_sides():
    rng = np.random.default_rng(0)
    contexts = [f"ctx{i // 4}" for i in range(400)]
    labels = rng.integers(0, 2, 400)
    held = split_by_context(contexts, labels, 0.3, seed=0)
    a = {c for c, h in zip(contexts, held) if h}
    b = {c for c, h in zip(contexts, held) if not h}
    assert not a & b and len(a) + len(b) == 100
    assert 25 <= len(a) <= 35
    for side in (held, ~held):
        assert set(labels[side].tolist()) == {0, 1}
    assert (split_by_context(contexts, labels, 0.3, seed=0) == held).all()  # deterministic


def test_train_eval_beats_chance_on_held_out_contexts(trained, capsys):
    root, detector, report = trained
    assert report["contexts"]["train"] + report["contexts"]["calibration"] == 60
    result = evaluate_detector(detector, [root / "heldout.zarr"])
    assert result["episodes"] == 80
    base = max(result["positives"], 80 - result["positives"]) / 80
    # half the failures lift the wrong cube: only image + instruction together tell them apart
    assert result["accuracy"] >= max(0.75, base + 0.2), result
    assert result["coverage"] > 0.5 and result["accuracy_covered"] >= result["accuracy"] - 1e-9
    for k in ("precision", "recall", "ece", "accuracy_covered"):
        assert result[k] is not None
    # the CLI prints the same figures as one JSON object
    assert _run_cli(["detector", "eval", "--detector", str(root / "det"), "--buffer", str(root / "heldout.zarr"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["accuracy"] == pytest.approx(result["accuracy"]) and printed["coverage"] == pytest.approx(result["coverage"])


def test_save_load_round_trip_is_exact(trained):
    root, detector, _ = trained
    loaded = load_detector(root / "det")
    _, eps = load_episodes([root / "heldout.zarr"])
    imgs = {c: np.concatenate([e.images[c] for e in eps[:10]]) for c in detector.cameras}
    instr = [e.instruction for e in eps[:10] for _ in range(len(e.images["front"]))]
    assert np.array_equal(loaded.logits(imgs, instr), detector.logits(imgs, instr))
    assert loaded.calibration == detector.calibration and loaded.cameras == detector.cameras
    assert loaded.spec == detector.spec
    assert {"config.json", "model.safetensors", "spec.yaml", "calibration.json"} <= {p.name for p in (root / "det").iterdir()}


def test_cli_train_writes_a_detector(trained, tmp_path, capsys):
    root, _, _ = trained
    cfg = tmp_path / "det.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump({**FAST, "train": {**FAST["train"], "steps": 20}}))
    assert _run_cli(["detector", "train", "--buffer", str(root / "train.zarr"), "--buffer", str(root / "heldout.zarr"),
                     "--out", str(tmp_path / "d"), "--config", str(cfg), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["contexts"]["train"] + report["contexts"]["calibration"] == 100
    assert load_detector(tmp_path / "d").config.train.steps == 20


def test_refuses_a_buffer_of_another_spec(trained, tmp_path):
    root, detector, _ = trained
    RolloutBuffer.create(tmp_path / "pr.zarr", make_suite("point_reach").spec).close()
    with pytest.raises(SpecMismatchError, match=r"trained for spec 'tiny'.*front.*no such camera"):
        evaluate_detector(detector, [tmp_path / "pr.zarr"])


def test_refuses_a_camera_set_not_in_the_spec(trained):
    _, detector, _ = trained
    with pytest.raises(SpecMismatchError, match=r"cameras \['top'\] are not in spec 'tiny'"):
        SuccessDetector(detector.spec, DetectorConfig(cameras=["top"]))


def test_refuses_a_buffer_without_labels(tmp_path):
    write_synthetic(tmp_path / "aborted.zarr", range(4), per_context=2, label_source="operator", status_fail="aborted",
                    success_rate=0.0)
    with pytest.raises(BufferError, match="no labelled episodes.*robot-rl eval --record"):
        load_episodes([tmp_path / "aborted.zarr"])
    RolloutBuffer.create(tmp_path / "empty.zarr", tiny_spec()).close()
    with pytest.raises(BufferError, match=r"empty.zarr: no labelled episodes \(0 episodes"):
        train_detector([tmp_path / "empty.zarr"])


def test_refuses_too_few_episodes_of_one_class(tmp_path):
    write_synthetic(tmp_path / "mostly.zarr", range(20), per_context=2, success_rate=0.95, seed=3)
    with pytest.raises(ConfigError, match=r"split has \d+ successful and \d failed episodes; it needs >= 5 of each"):
        train_detector([tmp_path / "mostly.zarr"], DetectorConfig.model_validate(FAST))
    with pytest.raises(ConfigError, match="calibration split has 7 successful and 2 failed"):
        check_class_counts(np.array([1] * 7 + [0] * 2), 5, "calibration")


def test_hf_backbone_from_a_local_directory_trains_and_round_trips_without_it(tmp_path):
    import shutil

    from transformers import SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(0)
    SiglipVisionModel(SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                         image_size=16, patch_size=8)).save_pretrained(tmp_path / "vision")
    write_synthetic(tmp_path / "b.zarr", range(0, 24), per_context=2, seed=4)
    cfg = DetectorConfig.model_validate({"model": {"backbone": "hf", "hf_path": str(tmp_path / "vision")},
                                         "train": {"steps": 5, "batch_size": 16}})
    detector, report = train_detector([tmp_path / "b.zarr"], cfg)
    frozen = dict(SiglipVisionModel.from_pretrained(tmp_path / "vision").named_parameters())
    assert all(torch.equal(p, frozen[n]) for n, p in detector.net.vision.named_parameters())  # the backbone stayed frozen
    save_detector(detector, tmp_path / "det", report)
    shutil.rmtree(tmp_path / "vision")
    loaded = load_detector(tmp_path / "det")
    assert loaded.config.model.backbone == "hf" and loaded.config.model.hf_path is None
    _, eps = load_episodes([tmp_path / "b.zarr"])
    imgs = {c: eps[0].images[c] for c in detector.cameras}
    instr = [eps[0].instruction] * len(imgs["front"])
    assert np.array_equal(loaded.logits(imgs, instr), detector.logits(imgs, instr))
    with pytest.raises(ConfigError, match="backbone 'hf' needs hf_path"):
        from robot_rl.config import validate_config

        validate_config(DetectorConfig, {"model": {"backbone": "hf"}})


def test_detector_command_documents_every_argument():
    # `robot-rl detector` comes from the robot_rl.cli entry point in setup.py (after `pip install -e .`);
    # here its register() is called directly, as build_parser() would.
    from test_cli_help import _undocumented

    parser = argparse.ArgumentParser(prog="robot-rl", description="top")
    register(parser.add_subparsers(dest="command"))
    assert _undocumented(parser, ["robot-rl"]) == []
