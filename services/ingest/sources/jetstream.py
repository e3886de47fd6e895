"""Bluesky Jetstream: a WebSocket stream of repository commits, filtered to posts.

Subscribes with `wantedCollections=app.bsky.feed.post`; each `kind: commit` message with
`commit.operation` `create` or `update` is a post (`update` becomes `kind="updated"`),
`delete` is ignored. The `time_us` of the last handled message is the cursor: stored in
PostgreSQL every few seconds and, on resume, rewound by `jetstream_rewind_s` so nothing
in flight during a crash is lost. The cursor also keeps short fingerprints of the messages
handled within that rewind window, and a resume skips them: the replayed seconds produce
nothing twice even on another replica (one that took the connector's lease over), whose
in-process de-duplication never saw them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
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
RECENT_KEPT = 20_000  # fingerprints kept at most (the busiest rewind window of the firehose)


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

    def _url(self, cursor: dict[str, Any] | None) -> str:
        params: dict[str, str] = {"wantedCollections": COLLECTION}
        if cursor and cursor.get("time_us"):
            rewind = int(self.ctx.settings.jetstream_rewind_s * 1_000_000)
            params["cursor"] = str(int(cursor["time_us"]) - rewind)
        return f"{self.ctx.settings.jetstream_url}?{urlencode(params)}"

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Read the stream, reconnecting from the stored cursor, until stopped."""
        backoff = ReconnectBackoff(scale=self.ctx.settings.backoff_scale)
        while not stop.is_set():
            cursor = await self.ctx.cursors.get(CURSOR_KEY)
            url = self._url(cursor)
            await check_url(url, allow_private=self.ctx.settings.fetch_allow_private)
            try:
                async with websockets.connect(url, max_size=2**20, open_timeout=10) as ws:
                    backoff.reset()
                    if not await self._read(ws, emit, stop, _Recent.resumed(cursor)):
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

    async def _read(self, ws: Any, emit: Emit, stop: asyncio.Event, recent: _Recent) -> bool:
        last_saved = time.monotonic()
        time_us: int | None = None
        window_us = int(self.ctx.settings.jetstream_rewind_s * 1_000_000)
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
                seen = recent.seen(message)
                item = None if seen else candidate(message, post_fields)
                if item is not None and not await emit([item]):
                    return False
                if isinstance(message, dict) and isinstance(message.get("time_us"), int):
                    time_us = message["time_us"]
                    recent.handled(message, time_us)
                if time_us is not None and time.monotonic() - last_saved >= CURSOR_EVERY_S:
                    await self.ctx.cursors.put(CURSOR_KEY, recent.cursor(time_us, window_us))
                    last_saved = time.monotonic()
        finally:
            stopper.cancel()
            if time_us is not None:
                await self.ctx.cursors.put(CURSOR_KEY, recent.cursor(time_us, window_us))
        return False


class _Recent:
    """Fingerprints of the messages handled within the rewind window before the cursor."""

    def __init__(self, skip: set[str]) -> None:
        self._skip = skip  # handled before the resume (by this replica or another)
        self._handled: deque[tuple[int, str]] = deque(maxlen=RECENT_KEPT)

    @classmethod
    def resumed(cls, cursor: dict[str, Any] | None) -> _Recent:
        """What the stored cursor says was handled in its rewind window."""
        kept = (cursor or {}).get("recent")
        return cls({str(f) for f in kept} if isinstance(kept, list) else set())

    def seen(self, message: Any) -> bool:
        """True when `message` was handled before the resume (the rewind replays it)."""
        return bool(self._skip) and _fingerprint(message) in self._skip

    def handled(self, message: Any, time_us: int) -> None:
        """Remember `message` as handled (produced, refused or skipped) at `time_us`."""
        fingerprint = _fingerprint(message)
        if fingerprint is not None:
            self._handled.append((time_us, fingerprint))

    def cursor(self, time_us: int, window_us: int) -> dict[str, Any]:
        """The cursor to store: `time_us` and the fingerprints a rewind from it replays."""
        while self._handled and self._handled[0][0] < time_us - window_us:
            self._handled.popleft()
        return {"time_us": time_us, "recent": [f for _, f in self._handled]}


def _fingerprint(message: Any) -> str | None:
    """A short stable id of one stream event (repository, record and content version)."""
    if not isinstance(message, dict) or not isinstance(message.get("commit"), dict):
        return None
    commit = message["commit"]
    key = f"{message.get('did')}|{commit.get('rkey')}|{commit.get('operation')}|"
    key += str(commit.get("cid") or commit.get("rev") or message.get("time_us"))
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
