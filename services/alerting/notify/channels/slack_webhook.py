"""Slack incoming webhook: POST the Block Kit message to the webhook URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from services.alerting.notify.channels.base import Redelivery
from services.alerting.notify.channels.http import new_client, post


class SlackWebhookNotifier:
    """Posts to a Slack incoming webhook (the URL itself is the secret).

    A webhook cannot read the channel back, so a message whose delivery is in doubt after a
    crash is posted again: at least once, never lost.
    """

    channel = "slack"
    redelivery: Redelivery = "possibly_repeated"

    def __init__(self, url: SecretStr, *, timeout_s: float = 10.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Create the HTTP client."""
        self._client = new_client(self._timeout_s)

    async def send(self, payload: Mapping[str, Any], *, idempotency_key: str) -> None:
        """POST `text` and `blocks`; Slack answers `ok` with 200 on success."""
        if self._client is None:
            await self.start()
        assert self._client is not None
        body = {"text": payload["text"], "blocks": payload.get("blocks", [])}
        await post(self._client, self._url.get_secret_value(), what="slack webhook", json=body)

    async def stop(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
