"""The hw-train schedule and panel request messages: round trip, progress text, errors naming the field."""

from __future__ import annotations

import pytest

from robot_rl.errors import ConfigError
from robot_rl.wire.hw_schedule import HwGroup, HwSchedule, parse_hw_request, parse_hw_schedule


def _schedule(**kw) -> HwSchedule:
    groups = [HwGroup(group_id="c0-v3-0", context_id="pick_red/3", rollouts_done=4, successes=2, state="complete"),
              HwGroup(group_id="c0-v3-1", context_id="pick_blue/7", rollouts_done=1, state="collecting")]
    return HwSchedule(**dict(dict(cycle=0, policy_version=3, group_size=4, groups=groups, current=1,
                                  status="collecting"), **kw))


def test_round_trip_and_progress_text():
    s = _schedule()
    back = parse_hw_schedule(s.to_json())
    assert back == s
    assert back.current_group.context_id == "pick_blue/7"
    assert back.progress_text() == "context 2 of 2, rollout 2 of 4"
    assert _schedule(current=-1, status="training").progress_text() == "no context to collect (training)"


@pytest.mark.parametrize("text, field", [
    ("not json", "not JSON"),
    ('{"status": "resting"}', "status"),
    ('{"groups": [{"group_id": "g", "context_id": "pick_red"}]}', "context_id"),
    ('{"groups": [{"group_id": "g", "context_id": "pick_red/1", "rollouts_done": 1, "successes": 2}]}', "successes"),
    ('{"current": 0}', "current"),
    ('{"surprise": 1}', "surprise"),
])
def test_bad_schedules_name_the_problem(text, field):
    with pytest.raises(ConfigError, match=field):
        parse_hw_schedule(text)


def test_requests():
    assert parse_hw_request('{"request": "skip_context", "group_id": "c0-v3-1"}').group_id == "c0-v3-1"
    with pytest.raises(ConfigError, match="request"):
        parse_hw_request('{"request": "reboot", "group_id": "x"}')
