"""The local Slack look-alike answers like Slack (tests/notify_fakes.py)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.notify_fakes import FakeHttp, channel_id


def test_fake_slack_api_rejects_bad_token(slack_api: FakeHttp) -> None:
    """The fake answers like Slack: HTTP 200 with ok=false for a bad token."""
    answer = httpx.post(
        f"{slack_api.url}/chat.postMessage",
        json={"text": "x"},
        headers={"Authorization": "Bearer nope"},
    )
    assert answer.status_code == 200
    assert answer.json() == {"ok": False, "error": "invalid_auth"}
    assert slack_api.delivered() == []


def test_fake_slack_history_is_like_slacks(slack_api: FakeHttp) -> None:
    """History: IDs only, newest first, `oldest` exclusive, cursor paging, opt-in metadata."""
    auth = {"Authorization": "Bearer xoxb-test"}
    metadata = {"event_type": "crisiswatch_notification", "event_payload": {"dedupe_key": "k"}}
    posted = [
        httpx.post(
            f"{slack_api.url}/chat.postMessage",
            json={"channel": "#crisis", "text": f"m{i}", "metadata": metadata},
            headers=auth,
        ).json()
        for i in range(3)
    ]
    channel = posted[0]["channel"]
    assert channel == channel_id("#crisis") and channel.startswith("C")

    def history(**params: str) -> Any:
        url = f"{slack_api.url}/conversations.history"
        return httpx.get(url, params={"channel": channel, **params}, headers=auth).json()

    plain = history()
    assert [m["text"] for m in plain["messages"]] == ["m2", "m1", "m0"]
    assert all("metadata" not in m for m in plain["messages"])
    first = history(include_all_metadata="true", limit="2", oldest=posted[0]["ts"])
    assert [m["text"] for m in first["messages"]] == ["m2", "m1"]
    assert first["messages"][0]["metadata"] == metadata
    assert first["has_more"] is False
    paged = history(limit="2")
    assert paged["has_more"] is True
    rest = history(limit="2", cursor=paged["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["m0"]
    by_name = httpx.get(
        f"{slack_api.url}/conversations.history", params={"channel": "#crisis"}, headers=auth
    ).json()
    assert by_name == {"ok": False, "error": "channel_not_found"}
    slack_api.history_scope = False
    assert history()["error"] == "missing_scope"
