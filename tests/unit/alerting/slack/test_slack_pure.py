"""Slack's v0 signature and the message after an action (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.alerting.slack.blocks import actions_block, updated_message
from services.alerting.slack.respond import allowed
from services.alerting.slack.signature import SlackRequestRefused, sign, verify

SECRET = b"8f742231b10e8888abcd99yyyzzz85a5"


def test_signature_matches_slacks_documented_example() -> None:
    # The worked example of Slack's "Verifying requests from Slack" guide.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign(SECRET, "1531420618", body) == expected
    verify(SECRET, timestamp="1531420618", body=body, signature=expected, now=1531420618 + 299)


@pytest.mark.parametrize(
    ("timestamp", "signature", "now", "message"),
    [
        (None, "v0=00", 100.0, "missing"),
        ("100", None, 100.0, "missing"),
        ("1e3", "v0=00", 100.0, "malformed"),
        ("100", "v0=00", 401.0, "stale"),
        ("500", "v0=00", 100.0, "stale"),
        ("100", "v0=00", 100.0, "invalid"),
    ],
)
def test_refusals(timestamp: str | None, signature: str | None, now: float, message: str) -> None:
    with pytest.raises(SlackRequestRefused, match=message):
        verify(SECRET, timestamp=timestamp, body=b"x", signature=signature, now=now)


def test_updated_message_keeps_content_and_records_who_did_what() -> None:
    original = {
        "text": "SEV2 opened: acme",
        "blocks": [
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Status*\nopen"}]},
            actions_block(7, "open", "https://cw.example/incidents/7"),
        ],
    }
    at = datetime(2026, 12, 4, 2, 5, tzinfo=UTC)
    first = updated_message(
        original, incident_id=7, status="acknowledged", severity="SEV2", what="acknowledged",
        user_id="U1", at=at,
    )  # fmt: skip
    second = updated_message(
        first, incident_id=7, status="resolved", severity="SEV2", what="resolved",
        user_id="U2", at=at,
    )  # fmt: skip
    assert second["blocks"][0]["fields"][0]["text"] == "*Status*\nresolved"
    actions, status = second["blocks"][1], second["blocks"][2]
    assert [e["action_id"] for e in actions["elements"]] == ["cw_room"]
    assert actions["elements"][0]["url"] == "https://cw.example/incidents/7"
    assert [e["text"] for e in status["elements"]] == [
        "<@U1> acknowledged at 02:05 UTC",
        "<@U2> resolved at 02:05 UTC",
    ]
    assert original["blocks"][0]["fields"][0]["text"] == "*Status*\nopen"  # not mutated


def test_response_url_must_be_on_an_allowed_host() -> None:
    hosts = ["hooks.slack.com"]
    assert allowed("https://hooks.slack.com/actions/T/1/x", hosts=hosts, allow_http=False)
    assert not allowed("http://hooks.slack.com/actions/T/1/x", hosts=hosts, allow_http=False)
    assert not allowed("https://hooks.slack.com.evil.example/x", hosts=hosts, allow_http=False)
    assert not allowed("https://evil.example/?hooks.slack.com", hosts=hosts, allow_http=False)
