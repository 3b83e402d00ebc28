"""configs/rehearsal.yaml loads; mistakes are refused naming the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_rl.errors import ConfigError
from robot_rl.rehearsal.config import RehearsalConfig

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "rehearsal.yaml"


def test_the_default_config_loads():
    cfg = RehearsalConfig.load(DEFAULT)
    assert cfg.reality.profile == "lab" and cfg.hw.loop.group_size == cfg.hw.group_size == 8
    assert cfg.eval_points == [5, 10]
    assert RehearsalConfig.load(DEFAULT, {"hw.updates": 7, "hw.eval_every": 3}).eval_points == [3, 6, 7]


def test_an_unknown_key_is_named_with_the_allowed_ones(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text(DEFAULT.read_text() + "\nbogus: 1\n")
    with pytest.raises(ConfigError, match=r"bogus: unknown key; allowed keys: .*checkpoint"):
        RehearsalConfig.load(bad)
    with pytest.raises(ConfigError, match=r"operator.reaction_dalay_s: unknown key; allowed keys: .*reaction_delay_s"):
        RehearsalConfig.load(DEFAULT, {"operator.reaction_dalay_s": 1.0})
    with pytest.raises(ConfigError, match=r"operator.mislabel_rate: got 2"):
        RehearsalConfig.load(DEFAULT, {"operator.mislabel_rate": 2})


def test_an_unknown_reality_profile_or_shift_is_refused_naming_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"reality: .*'moon'.*allowed: none, .*lab"):
        RehearsalConfig.load(DEFAULT, {"reality.profile": "moon"})
    with pytest.raises(ConfigError, match=r"reality: .*bogus"):
        RehearsalConfig.load(DEFAULT, {"reality.options": {"only": ["bogus"]}})


def test_k_is_said_once():
    with pytest.raises(ConfigError, match=r"loop.group_size \(4\) differs from group_size \(8\)"):
        RehearsalConfig.load(DEFAULT, {"hw.loop.group_size": 4})
