"""Token rules of the panel and the per-group reference picture."""

from __future__ import annotations

import pytest

from robot_rl.panel import ReferenceFrames, check_token, is_loopback, resolve_token
from robot_rl.panel.auth import request_token


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True),
                                        ("localhost", True), ("0.0.0.0", False), ("::", False),
                                        ("192.168.1.5", False), ("robot.lab", False)])
def test_loopback(host, loop):
    assert is_loopback(host) is loop


def test_a_token_is_generated_beyond_loopback_only():
    assert resolve_token("127.0.0.1", "") == ("", False)
    assert resolve_token("0.0.0.0", "abc") == ("abc", False)
    token, generated = resolve_token("0.0.0.0", "")
    assert generated and len(token) >= 20 and resolve_token("0.0.0.0", "")[0] != token


def test_token_check_and_where_requests_carry_it():
    assert check_token("", "") and check_token("", "anything")
    assert check_token("s3cret", "s3cret") and not check_token("s3cret", "") and not check_token("s3cret", "S3cret")
    assert request_token({"token": "q"}, {}) == "q"
    assert request_token({"token": "q"}, {"Authorization": "Bearer h"}) == "h"
    assert request_token({}, {"Authorization": "Basic h"}) == ""


def test_reference_is_the_first_frame_after_the_delay_and_kept_per_group():
    refs = ReferenceFrames(capacity=2)
    calls = []

    def enc(tag):
        return lambda: calls.append(tag) or tag.encode()

    assert refs.want("g1", after_s=10.3) and not refs.want("g1", after_s=99.0)
    assert refs.offer(10.0, enc("early")) == [] and calls == []   # before the delay: not even encoded
    assert refs.offer(10.4, enc("a")) == ["g1"] and refs.get("g1") == b"a"
    assert not refs.want("g1", after_s=20.0)                      # later rollouts keep the first picture
    refs.want("g2", 0.0)
    refs.want("g3", 0.0)
    assert refs.offer(1.0, enc("b")) == ["g2", "g3"] and calls == ["a", "b"]  # encoded once for both
    assert "g1" not in refs and refs.get("g3") == b"b"            # capacity 2: the oldest went
