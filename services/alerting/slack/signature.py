"""Slack's request signing (v0): HMAC-SHA256 over `v0:{timestamp}:{raw body}`, pure.

https://api.slack.com/authentication/verifying-requests-from-slack: the timestamp must be
within five minutes of now (a captured request cannot be replayed later) and the signature
is compared in constant time. Replays inside the window are refused by `replay.py`.
"""

from __future__ import annotations

import hashlib
import hmac

from shared.errors import CrisiswatchError

VERSION = "v0"
WINDOW_S = 300
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"


class SlackRequestRefused(CrisiswatchError):
    """A request that does not prove it comes from Slack (HTTP 401)."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The `v0=<hex>` signature Slack sends for `body` at `timestamp`."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


def verify(
    secret: bytes,
    *,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    now: float,
    window_s: int = WINDOW_S,
) -> None:
    """Raise `SlackRequestRefused` unless `signature` signs `body` at a fresh `timestamp`."""
    if not timestamp or not signature:
        raise SlackRequestRefused("missing Slack signature headers")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SlackRequestRefused("malformed Slack request timestamp")
    if abs(now - int(timestamp)) > window_s:
        raise SlackRequestRefused("stale Slack request: timestamp outside the 5-minute window")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise SlackRequestRefused("invalid Slack signature")
