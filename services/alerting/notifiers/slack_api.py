"""Slack Web API `chat.postMessage` with a bot token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from services.alerting.notifiers.base import PermanentDeliveryError, TransientDeliveryError
from services.alerting.notifiers.http import new_client, post

# Slack reports these with HTTP 200 and {"ok": false}; everything else will not heal by itself.
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackApiNotifier:
    """Posts messages with `chat.postMessage` (bearer token, JSON body)."""

    channel = "slack"

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
        self._url = f"{api_base.rstrip('/')}/chat.postMessage"
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Create the HTTP client."""
        self._client = new_client(self._timeout_s)

    async def send(self, payload: Mapping[str, Any], *, idempotency_key: str) -> None:
        """Post the message; `payload["channel"]` overrides the default channel."""
        if self._client is None:
            await self.start()
        assert self._client is not None
        body = {
            "channel": payload.get("channel") or self._default_channel,
            "text": payload["text"],
            "blocks": payload.get("blocks", []),
            "unfurl_links": False,
        }
        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Content-Type": "application/json; charset=utf-8",
        }
        response = await post(self._client, self._url, what="slack api", headers=headers, json=body)
        try:
            answer = response.json()
        except ValueError:
            raise TransientDeliveryError("slack api: response is not JSON") from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = str(answer.get("error", "unknown")) if isinstance(answer, dict) else "unknown"
            if error in _TRANSIENT_ERRORS:
                raise TransientDeliveryError(f"slack api: {error}")
            raise PermanentDeliveryError(f"slack api: {error}")

    async def stop(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
