"""Slack Web API: `chat.postMessage` with a bot token, `conversations.history` to confirm.

Every message carries Slack message metadata naming its outbox key, so after a crash the
outbox can look the message up in the channel history instead of posting it twice. The
lookup needs the `channels:history` (or `groups:history`) scope and a channel ID (`C…`):
with a channel name Slack answers `channel_not_found` and the outbox resends.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from services.alerting.notify.channels.base import (
    PermanentDeliveryError,
    Redelivery,
    TransientDeliveryError,
)
from services.alerting.notify.channels.http import get, new_client, post

# Slack reports these with HTTP 200 and {"ok": false}; everything else will not heal by itself.
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
METADATA_EVENT_TYPE = "crisiswatch_notification"
_HISTORY_PAGE = 200  # Slack's recommended page size for conversations.history
_HISTORY_MAX_PAGES = 10  # a crash window is minutes long: more would be a busy channel


class SlackApiNotifier:
    """Posts messages with `chat.postMessage` (bearer token, JSON body)."""

    channel = "slack"
    redelivery: Redelivery = "possibly_repeated"

    def __init__(
        self,
        token: SecretStr,
        default_channel: str,
        *,
        api_base: str = "https://slack.com/api",
        timeout_s: float = 10.0,
    ) -> None:
        self._token = token
        self._default_channel = default_channel
        self._api_base = api_base.rstrip("/")
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Create the HTTP client."""
        self._client = new_client(self._timeout_s)

    async def send(self, payload: Mapping[str, Any], *, idempotency_key: str) -> None:
        """Post the message; `payload["channel"]` overrides the default channel."""
        body = {
            "channel": self._target(payload),
            "text": payload["text"],
            "blocks": payload.get("blocks", []),
            "unfurl_links": False,
            "metadata": {
                "event_type": METADATA_EVENT_TYPE,
                "event_payload": {"dedupe_key": idempotency_key},
            },
        }
        client = await self._http()
        response = await post(
            client,
            f"{self._api_base}/chat.postMessage",
            what="slack api",
            headers=self._headers(),
            json=body,
        )
        _check_answer(response, "slack api")

    async def already_delivered(
        self, payload: Mapping[str, Any], *, idempotency_key: str, since: datetime
    ) -> bool:
        """Look for a message with this key's metadata in the channel since `since`."""
        client = await self._http()
        params = {
            "channel": self._target(payload),
            "oldest": f"{since.timestamp():.6f}",
            "include_all_metadata": "true",
            "limit": str(_HISTORY_PAGE),
        }
        for _ in range(_HISTORY_MAX_PAGES):
            response = await get(
                client,
                f"{self._api_base}/conversations.history",
                what="slack history",
                headers=self._headers(),
                params=params,
            )
            answer = _check_answer(response, "slack history")
            messages = answer.get("messages")
            if not isinstance(messages, list):
                raise PermanentDeliveryError("slack history: answer without messages")
            if any(_carries_key(m, idempotency_key) for m in messages):
                return True
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return False
            params["cursor"] = str(cursor)
        raise PermanentDeliveryError(
            f"slack history: more than {_HISTORY_PAGE * _HISTORY_MAX_PAGES} messages to search"
        )

    async def stop(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _target(self, payload: Mapping[str, Any]) -> str:
        return str(payload.get("channel") or self._default_channel)

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Content-Type": "application/json; charset=utf-8",
        }

    async def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            await self.start()
        assert self._client is not None
        return self._client


def _check_answer(response: httpx.Response, what: str) -> dict[str, Any]:
    """Return the JSON answer of a Slack method, or raise for `{"ok": false}`."""
    try:
        answer = response.json()
    except ValueError:
        raise TransientDeliveryError(f"{what}: response is not JSON") from None
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        error = str(answer.get("error", "unknown")) if isinstance(answer, dict) else "unknown"
        if error in _TRANSIENT_ERRORS:
            raise TransientDeliveryError(f"{what}: {error}")
        raise PermanentDeliveryError(f"{what}: {error}")
    return answer


def _carries_key(message: Any, idempotency_key: str) -> bool:
    if not isinstance(message, dict):
        return False
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return False
    event_payload = metadata.get("event_payload")
    return isinstance(event_payload, dict) and event_payload.get("dedupe_key") == idempotency_key
