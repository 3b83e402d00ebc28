"""Who may use the panel: a token whenever it listens beyond loopback.

A panel reachable from the network can start a robot and label its episodes, so a listener on
anything but a loopback address always has a token: the configured one, or a random one made
at start and logged (refusing to start would leave an operator with no panel at all; a logged
token is as strong, and the log is on the robot's machine). On loopback with no token
configured none is needed: only local users can reach it.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Mapping


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; False for 0.0.0.0, :: and real addresses."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def resolve_token(host: str, token: str) -> tuple[str, bool]:
    """The token to enforce (``""`` = none) and whether it was generated here."""
    if token:
        return token, False
    if is_loopback(host):
        return "", False
    return secrets.token_urlsafe(18), True


def request_token(query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The token a request carries: ``?token=`` or ``Authorization: Bearer <token>``."""
    auth = headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return query.get("token", "")


def check_token(expected: str, given: str) -> bool:
    """Constant-time comparison; any request passes when no token is enforced."""
    if not expected:
        return True
    return hmac.compare_digest(expected.encode(), given.encode())
