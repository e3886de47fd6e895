"""Bluesky Jetstream: a WebSocket stream of repository commits, filtered to posts.

Subscribes with `wantedCollections=app.bsky.feed.post`; each `kind: commit` message with
`commit.operation` `create` or `update` is a post (`update` becomes `kind="updated"`),
`delete` is ignored. The `time_us` of the last handled message is the cursor: stored in
PostgreSQL every few seconds and, on resume, rewound by `jetstream_rewind_s` so nothing
in flight during a crash is lost (the de-duplication absorbs the replayed seconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import websockets
from websockets.exceptions import InvalidStatus, WebSocketException

from services.ingest.core.assess import Rejected
from services.ingest.core.normalize import language_tag
from services.ingest.sources.base import Emit, ReconnectBackoff, Source, candidate
from services.ingest.sources.fetch import check_url
from shared import serde
from shared.errors import InvalidRecord
from shared.resilience import wait_or_stop

log = logging.getLogger(__name__)

PLATFORM = "bluesky"
COLLECTION = "app.bsky.feed.post"
CURSOR_KEY = "bluesky:jetstream"
CURSOR_EVERY_S = 2.0


def post_fields(message: dict[str, Any]) -> dict[str, Any] | None:
    """A Jetstream commit message as `MentionIn` fields; None for deletes and non-posts."""
    if message.get("kind") != "commit":
        return None
    commit = message["commit"]
    if commit.get("collection") != COLLECTION or commit.get("operation") == "delete":
        return None
    did, rkey = message["did"], commit["rkey"]
    record = commit["record"]
    langs = record.get("langs") or []
    reply = record.get("reply") or {}
    embed = record.get("embed") or {}
    quoted = (embed.get("record") or {}).get("uri") if "record" in embed.get("$type", "") else None
    if quoted is None and isinstance(embed.get("record"), dict):
        quoted = (embed["record"].get("record") or {}).get("uri")
    tags = [
        feature["tag"]
        for facet in record.get("facets") or []
        for feature in facet.get("features") or []
        if feature.get("$type") == "app.bsky.richtext.facet#tag" and feature.get("tag")
    ]
    return {
        "platform": PLATFORM,
        "external_id": f"at://{did}/{COLLECTION}/{rkey}",
        "url": f"https://bsky.app/profile/{did}/post/{rkey}",
        "author": did,
        "text": record["text"],
        "language": language_tag(langs[0]) if langs else None,
        "created_at": record.get("createdAt")
        or datetime.fromtimestamp(message["time_us"] / 1e6, tz=UTC),
        "hashtags": [*tags, *(record.get("tags") or [])],
        "in_reply_to": (reply.get("parent") or {}).get("uri"),
        "quote_of": quoted,
        "kind": "updated" if commit.get("operation") == "update" else "created",
        "source": {"stream": "jetstream"},
    }


class JetstreamSource(Source):
    """Follows the Bluesky firehose when any watchlist enables it (or the setting does)."""

    name = "bluesky"

    def wanted(self) -> bool:
        """True when the firehose should be followed."""
        return self.ctx.settings.jetstream_enabled or any(
            w.sources.bluesky.enabled for w in self.ctx.watchlists.watchlists
        )

    async def _url(self) -> str:
        params: dict[str, str] = {"wantedCollections": COLLECTION}
        cursor = await self.ctx.cursors.get(CURSOR_KEY)
        if cursor and cursor.get("time_us"):
            rewind = int(self.ctx.settings.jetstream_rewind_s * 1_000_000)
            params["cursor"] = str(int(cursor["time_us"]) - rewind)
        return f"{self.ctx.settings.jetstream_url}?{urlencode(params)}"

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Read the stream, reconnecting from the stored cursor, until stopped."""
        backoff = ReconnectBackoff(scale=self.ctx.settings.backoff_scale)
        while not stop.is_set():
            url = await self._url()
            await check_url(url, allow_private=self.ctx.settings.fetch_allow_private)
            try:
                async with websockets.connect(url, max_size=2**20, open_timeout=10) as ws:
                    backoff.reset()
                    if not await self._read(ws, emit, stop):
                        return
                wait = backoff.network()
            except InvalidStatus as exc:
                status = exc.response.status_code
                self.ctx.count_error(self.name, f"http_{status}")
                wait = backoff.rate_limited() if status == 429 else backoff.http()
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.ctx.count_error(self.name, "network")
                log.warning("jetstream: %s", type(exc).__name__)
                wait = backoff.network()
            if await wait_or_stop(stop, wait):
                return

    async def _read(self, ws: Any, emit: Emit, stop: asyncio.Event) -> bool:
        last_saved = time.monotonic()
        time_us: int | None = None
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while True:
                receive = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receive, stopper}, return_when="FIRST_COMPLETED")
                if receive not in done:
                    receive.cancel()
                    break
                raw = receive.result()
                payload = raw if isinstance(raw, bytes) else raw.encode()
                try:
                    message = serde.loads(payload)
                except InvalidRecord as exc:
                    if not await emit([Rejected(payload, exc.reason, "invalid_json")]):
                        return False
                    continue
                item = candidate(message, post_fields)
                if item is not None and not await emit([item]):
                    return False
                if isinstance(message, dict) and isinstance(message.get("time_us"), int):
                    time_us = message["time_us"]
                if time_us is not None and time.monotonic() - last_saved >= CURSOR_EVERY_S:
                    await self.ctx.cursors.put(CURSOR_KEY, {"time_us": time_us})
                    last_saved = time.monotonic()
        finally:
            stopper.cancel()
            if time_us is not None:
                await self.ctx.cursors.put(CURSOR_KEY, {"time_us": time_us})
        return False
