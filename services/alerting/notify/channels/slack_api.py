"""Slack Web API: `chat.postMessage` with a bot token, `conversations.history` to confirm.

Updates of an incident (severity changes, escalations, its resolution) are thread replies
under its opening message, found by the same metadata (`incident`, `opening`).

Every message carries Slack message metadata naming its outbox key, so after a crash the
outbox can look the message up in the channel history instead of posting it twice. The
lookup needs the `channels:history` (or `groups:history`) scope and a channel ID (`C…`):
with a channel name Slack answers `channel_not_found` and the outbox resends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from services.alerting.notify.channels.base import (
    DeliveryError,
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
        """Post the message; `payload["channel"]` overrides the default channel.

        A message about an incident (`payload["thread"]`) that is not its opening is posted
        as a thread reply under the opening message, found by its metadata in the channel
        history (also shown in the channel when `thread["broadcast"]`: an escalation pages);
        when that message cannot be found, it is posted to the channel itself.
        """
        thread = payload.get("thread") or {}
        event_payload: dict[str, Any] = {"dedupe_key": idempotency_key}
        if "incident" in thread:
            event_payload.update(incident=thread["incident"], opening=bool(thread.get("opening")))
        body: dict[str, Any] = {
            "channel": self._target(payload),
            "text": payload["text"],
            "blocks": payload.get("blocks", []),
            "unfurl_links": False,
            "metadata": {"event_type": METADATA_EVENT_TYPE, "event_payload": event_payload},
        }
        if "incident" in thread and not thread.get("opening"):
            opening = await self._opening_ts(payload, thread["incident"])
            if opening is not None:
                body["thread_ts"] = opening
                if thread.get("broadcast"):
                    body["reply_broadcast"] = True
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
        found = await self._find(
            payload, lambda p: p.get("dedupe_key") == idempotency_key, oldest=since.timestamp()
        )
        return found is not None

    async def _opening_ts(self, payload: Mapping[str, Any], incident: Any) -> str | None:
        """The `ts` of the incident's opening message in the channel, if it can be found."""
        try:
            found = await self._find(
                payload, lambda p: p.get("incident") == incident and p.get("opening") is True
            )
        except DeliveryError:
            return None  # no history scope, a #name channel, a long channel: no thread
        return str(found["ts"]) if found and found.get("ts") else None

    async def _find(
        self,
        payload: Mapping[str, Any],
        matches: Callable[[dict[str, Any]], bool],
        *,
        oldest: float | None = None,
    ) -> dict[str, Any] | None:
        """The newest message of ours whose metadata payload `matches`, else None."""
        client = await self._http()
        params = {
            "channel": self._target(payload),
            "include_all_metadata": "true",
            "limit": str(_HISTORY_PAGE),
        }
        if oldest is not None:
            params["oldest"] = f"{oldest:.6f}"
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
            for message in messages:
                event_payload = _our_payload(message)
                if event_payload is not None and matches(event_payload):
                    return dict(message)
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return None
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


def _our_payload(message: Any) -> dict[str, Any] | None:
    """The metadata payload of a message crisiswatch posted, else None."""
    if not isinstance(message, dict):
        return None
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return None
    event_payload = metadata.get("event_payload")
    return event_payload if isinstance(event_payload, dict) else None
