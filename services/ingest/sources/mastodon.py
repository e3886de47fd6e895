"""Mastodon: the streaming API (Server-Sent Events) for hashtag and public timelines.

`event: update` carries a Status, `event: status.update` an edited Status (emitted as
`kind="updated"`), `event: delete` a status id (deletions are not events here). After a
(re)connection the REST timeline is read from the stored last id (`min_id`) so statuses
posted while disconnected are not lost; the SSE stream is opened first so none fall in
between, and the de-duplication absorbs the overlap.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from httpx_sse import SSEError, aconnect_sse

from services.ingest.core.assess import Rejected
from services.ingest.core.normalize import html_to_text, language_tag
from services.ingest.sources.base import (
    Emit,
    ReconnectBackoff,
    Source,
    SourceContext,
    candidate,
    unless_stopped,
)
from services.ingest.sources.fetch import make_client
from shared import serde
from shared.errors import InvalidRecord
from shared.resilience import parse_retry_after, wait_or_stop

log = logging.getLogger(__name__)

PLATFORM = "mastodon"
PAGE = 40


def status_fields(status: dict[str, Any], *, edited: bool = False) -> dict[str, Any]:
    """A Mastodon Status entity as `MentionIn` fields (a boost stands for its original)."""
    if status.get("reblog"):
        status = status["reblog"]
    account = status["account"]
    text = html_to_text(status.get("content") or "")
    if status.get("spoiler_text"):
        text = f"{status['spoiler_text']}\n\n{text}"
    uri = status.get("uri") or status.get("url") or ""
    return {
        "platform": PLATFORM,
        "external_id": uri if 0 < len(uri) <= 256 else f"{status['id']}",
        "url": status.get("url"),
        "author": account.get("url") or account["acct"],
        "author_reach": account.get("followers_count"),
        "text": text,
        "language": language_tag(status.get("language")),
        "created_at": status["created_at"],
        "engagement": {
            "likes": status.get("favourites_count", 0),
            "shares": status.get("reblogs_count", 0),
            "replies": status.get("replies_count", 0),
        },
        "hashtags": [t["name"] for t in status.get("tags", [])],
        "in_reply_to": status.get("in_reply_to_id"),
        "kind": "updated" if edited or status.get("edited_at") else "created",
        "source": {"stream": "mastodon"},
    }


def _newer(a: str | None, b: str | None) -> str | None:
    """The larger of two Mastodon ids (numeric strings of varying length)."""
    if a is None or b is None:
        return a or b
    return a if (len(a), a) > (len(b), b) else b


class MastodonSource(Source):
    """Follows each subscribed hashtag (and the public stream if asked) of one instance."""

    name = "mastodon"

    def __init__(self, context: SourceContext) -> None:
        super().__init__(context)
        self._event_ids: dict[str, str] = {}  # SSE ids per stream, sent back on reconnect

    def wanted(self) -> bool:
        """True with an instance configured and hashtags (or the public stream) subscribed."""
        return self.ctx.settings.mastodon_base_url is not None and bool(self._streams())

    def _streams(self) -> list[tuple[str, str, str, dict[str, str]]]:
        result: dict[str, tuple[str, str, str, dict[str, str]]] = {}
        for watchlist in self.ctx.watchlists.watchlists:
            sub = watchlist.sources.mastodon
            for tag in sub.hashtags:
                tag = tag.lstrip("#").lower()
                result.setdefault(
                    f"mastodon:tag:{tag}",
                    (
                        f"mastodon:tag:{tag}",
                        "/api/v1/streaming/hashtag",
                        f"/api/v1/timelines/tag/{quote(tag)}",
                        {"tag": tag},
                    ),
                )
            if sub.public:
                result.setdefault(
                    "mastodon:public",
                    ("mastodon:public", "/api/v1/streaming/public", "/api/v1/timelines/public", {}),
                )
        return list(result.values())

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Run one reconnecting SSE reader per stream until stopped."""
        settings = self.ctx.settings
        if settings.mastodon_base_url is None:
            return
        headers = {"Accept": "text/event-stream"}
        if settings.mastodon_token is not None:
            headers["Authorization"] = f"Bearer {settings.mastodon_token.get_secret_value()}"
        timeout = httpx.Timeout(settings.connector_http_timeout_s, read=None)
        async with (
            make_client(
                settings, base_url=settings.mastodon_base_url, headers=headers, timeout=timeout
            ) as client,
            asyncio.TaskGroup() as group,
        ):
            for stream in self._streams():
                group.create_task(self._follow(client, *stream, emit=emit, stop=stop))

    async def _follow(
        self,
        client: httpx.AsyncClient,
        key: str,
        stream_path: str,
        timeline_path: str,
        params: dict[str, str],
        *,
        emit: Emit,
        stop: asyncio.Event,
    ) -> None:
        backoff = ReconnectBackoff(scale=self.ctx.settings.backoff_scale)
        while not stop.is_set():
            try:
                wait = await unless_stopped(
                    self._session(client, key, stream_path, timeline_path, params, emit, backoff),
                    stop,
                )
            except (httpx.HTTPError, SSEError, InvalidRecord) as exc:
                self.ctx.count_error(self.name, "network")
                log.warning("mastodon %s: %s", key, type(exc).__name__)
                wait = backoff.network()
            if wait is None or await wait_or_stop(stop, wait):
                return

    async def _session(
        self,
        client: httpx.AsyncClient,
        key: str,
        stream_path: str,
        timeline_path: str,
        params: dict[str, str],
        emit: Emit,
        backoff: ReconnectBackoff,
    ) -> float | None:
        """One SSE connection; return the wait before reconnecting (None: stopping)."""
        last_id = self._event_ids.get(key)
        headers = {"Last-Event-ID": last_id} if last_id else {}
        async with aconnect_sse(client, "GET", stream_path, params=params, headers=headers) as sse:
            if sse.response.status_code == 429:
                self.ctx.count_error(self.name, "rate_limited")
                return backoff.rate_limited(
                    parse_retry_after(sse.response.headers.get("retry-after"))
                )
            if sse.response.status_code >= 400:
                self.ctx.count_error(self.name, f"http_{sse.response.status_code}")
                return backoff.http()
            if not await self._catch_up(client, key, timeline_path, emit):
                return None
            backoff.reset()
            async for event in sse.aiter_sse():
                if event.id:
                    self._event_ids[key] = event.id
                if not await self._handle(key, event.event, event.data, emit):
                    return None
        self.ctx.count_error(self.name, "disconnected")
        return backoff.network()

    async def _handle(self, key: str, event: str, data: str, emit: Emit) -> bool:
        if event not in {"update", "status.update"}:
            return True  # delete, notification, filters_changed... are not mentions
        try:
            status = serde.loads(data)
        except InvalidRecord as exc:
            return await emit([Rejected(data.encode(), exc.reason, "invalid_json")])
        item = candidate(status, lambda s: status_fields(s, edited=event == "status.update"))
        if item is None:
            return True
        if not await emit([item]):
            return False
        if isinstance(status, dict) and isinstance(status.get("id"), str):
            await self._advance(key, status["id"])
        return True

    async def _advance(self, key: str, status_id: str) -> None:
        cursor = await self.ctx.cursors.get(key) or {}
        newest = _newer(cursor.get("last_id"), status_id)
        if newest != cursor.get("last_id"):
            await self.ctx.cursors.put(key, {"last_id": newest})

    async def _catch_up(
        self, client: httpx.AsyncClient, key: str, timeline_path: str, emit: Emit
    ) -> bool:
        cursor = await self.ctx.cursors.get(key)
        last_id = cursor.get("last_id") if cursor else None
        while last_id is not None:
            response = await client.get(timeline_path, params={"min_id": last_id, "limit": PAGE})
            if response.status_code >= 400:
                self.ctx.count_error(self.name, f"catch_up_http_{response.status_code}")
                return True
            statuses = serde.loads(response.content)
            if not isinstance(statuses, list) or not statuses:
                return True
            ordered = sorted(statuses, key=lambda s: (len(str(s.get("id"))), str(s.get("id"))))
            items = [c for s in ordered if (c := candidate(s, status_fields)) is not None]
            if not await emit(items):
                return False
            for status in ordered:
                last_id = _newer(last_id, str(status.get("id")))
            await self.ctx.cursors.put(key, {"last_id": last_id})
            if len(statuses) < PAGE:
                return True
        return True


def instance_host(base_url: str) -> str:
    """The host name of an instance URL (for source metadata)."""
    return urlsplit(base_url).hostname or base_url
