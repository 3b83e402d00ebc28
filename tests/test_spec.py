import numpy as np
import pytest

from robot_rl.errors import ConfigError, SpecMismatchError
from robot_rl.spec import EmbodimentSpec, load_spec


def _spec_dict(**overrides):
    d = load_spec("tabletop").to_dict()
    d.update(overrides)
    return d


def test_builtin_tabletop_spec_layout():
    spec = load_spec("tabletop")
    assert spec.camera_names == ["agentview", "wrist"]
    assert spec.camera("wrist").shape == (128, 128, 3)
    assert spec.proprio_dim == 7
    assert spec.proprio_slice("gripper") == slice(6, 7)
    assert spec.chunk_shape == (8, 7)
    np.testing.assert_allclose(spec.action_low[:3], -0.05)
    assert spec.action_high[6] == 1.0


def test_yaml_round_trip(tmp_path):
    spec = load_spec("tabletop")
    spec.to_yaml(tmp_path / "s.yaml")
    assert EmbodimentSpec.from_yaml(tmp_path / "s.yaml") == spec


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["cameras"][0].update(height=-3), "cameras[0].height: got -3"),
        (lambda d: d["action"][0].update(unit="furlong"), "action[0].unit: got 'furlong'"),
        (lambda d: d["action"][1].update(low=1.0, high=0.0), "action[1]"),
        (lambda d: d.update(chunk_lenght=4), "chunk_lenght: unknown key; allowed keys: action, cameras, chunk_length"),
        (lambda d: d["cameras"].append(dict(d["cameras"][0])), "camera names must be unique; repeated: agentview"),
        (lambda d: d.pop("control_rate_hz"), "control_rate_hz: required field is missing"),
    ],
)
def test_bad_spec_names_the_field(mutate, expected):
    d = _spec_dict()
    mutate(d)
    with pytest.raises(ConfigError) as err:
        EmbodimentSpec.from_dict(d, "my.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("my.yaml: ")


def test_unit_error_lists_allowed_units():
    d = _spec_dict()
    d["proprio"][0]["unit"] = "inch"
    with pytest.raises(ConfigError, match="'m', 'rad'"):
        EmbodimentSpec.from_dict(d)


def test_diff_lists_each_difference():
    a = load_spec("tabletop")
    d = a.to_dict()
    d["cameras"][1]["width"] = 224
    d["action"][6]["low"] = 0.0
    d["chunk_length"] = 4
    b = EmbodimentSpec.from_dict(d)
    diffs = a.diff(b)
    assert "cameras[wrist].width: 128 vs 224" in diffs
    assert "action[gripper].low: -1.0 vs 0.0" in diffs
    assert "chunk_length: 8 vs 4" in diffs
    assert len(diffs) == 3
    assert a.diff(a) == []


def test_diff_reports_renamed_cameras():
    a = load_spec("tabletop")
    d = a.to_dict()
    d["cameras"][1]["name"] = "left"
    assert a.diff(EmbodimentSpec.from_dict(d)) == ["cameras: names ['agentview', 'wrist'] vs ['agentview', 'left']"]


def test_check_compatible_ignores_name_and_latency_only():
    a = load_spec("tabletop")
    d = a.to_dict()
    d["name"] = "real_panda"
    d["latency"] = {"camera_s": 0.03, "command_s": 0.05}
    a.check_compatible(EmbodimentSpec.from_dict(d))
    d["proprio"][0]["size"] = 4
    with pytest.raises(SpecMismatchError, match=r"proprio\[eef_pos\].size: 3 vs 4"):
        a.check_compatible(EmbodimentSpec.from_dict(d), "policy spec")


def test_unknown_builtin_spec_lists_known():
    with pytest.raises(KeyError, match="tabletop"):
        load_spec("nope")
