"""RSS and Atom news feeds: conditional GET (ETag / Last-Modified) and persisted seen GUIDs.

A 304 costs nothing; a 200 is parsed with feedparser and only entries whose GUID was not
emitted before are handed on. The validators and the last GUIDs of each feed live in
`connector_cursors`, and the cursor moves only after Kafka accepted the entries.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import httpx

from services.ingest.core.assess import Rejected
from services.ingest.core.normalize import html_to_text
from services.ingest.sources.base import Emit, ReconnectBackoff, Source, candidate
from services.ingest.sources.fetch import ForbiddenAddress, check_url, make_client
from shared.resilience import wait_or_stop

log = logging.getLogger(__name__)

PLATFORM = "news"
SEEN_KEPT = 2_000  # GUIDs remembered per feed; feeds rarely carry more than a few hundred
MAX_REDIRECTS = 3


def entry_id(entry: Any) -> str:
    """The entry's GUID (or link), hashed when longer than an external id may be."""
    guid = str(entry.get("id") or entry.get("link") or entry.get("title") or "")
    if not guid:
        raise ValueError("entry has neither id, link nor title")
    return guid if len(guid) <= 200 else "sha256:" + hashlib.sha256(guid.encode()).hexdigest()


def entry_fields(entry: Any, *, feed_url: str, feed_title: str | None) -> dict[str, Any]:
    """A feedparser entry as `MentionIn` fields."""
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    created = (
        datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC) if parsed else datetime.now(UTC)
    )
    title = html_to_text(entry.get("title") or "")
    summary = html_to_text(entry.get("summary") or "")
    return {
        "platform": PLATFORM,
        "external_id": entry_id(entry),
        "url": entry.get("link"),
        "author": entry.get("author") or feed_title or feed_url,
        "text": f"{title}\n\n{summary}".strip(),
        "language": None,
        "created_at": created,
        "hashtags": [t.get("term", "") for t in entry.get("tags", []) if t.get("term")][:20],
        "source": {"feed": feed_url, "feed_title": feed_title},
    }


class RssSource(Source):
    """Polls every feed of every watchlist every `rss_poll_s` seconds."""

    name = "rss"

    def wanted(self) -> bool:
        """True when some watchlist lists feeds."""
        return bool(self._feeds())

    def _feeds(self) -> list[str]:
        feeds = [f for w in self.ctx.watchlists.watchlists for f in w.sources.rss.feeds]
        return list(dict.fromkeys(feeds))

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Poll all feeds until stopped."""
        settings = self.ctx.settings
        backoff = ReconnectBackoff(scale=settings.backoff_scale)
        async with make_client(settings) as client:
            while not stop.is_set():
                for url in self._feeds():
                    if stop.is_set():
                        return
                    try:
                        await self.poll(client, url, emit)
                    except ForbiddenAddress as exc:
                        self.ctx.count_error(self.name, "forbidden_address")
                        log.error("rss: %s", exc)
                    except httpx.HTTPError as exc:
                        self.ctx.count_error(self.name, "network")
                        log.warning("rss %s: %s", url, type(exc).__name__)
                        await wait_or_stop(stop, backoff.network())
                if await wait_or_stop(stop, settings.rss_poll_s):
                    return

    async def poll(self, client: httpx.AsyncClient, url: str, emit: Emit) -> int:
        """Fetch one feed conditionally and emit its new entries; return how many."""
        key = f"rss:{url}"
        cursor = await self.ctx.cursors.get(key) or {}
        headers = {}
        if cursor.get("etag"):
            headers["If-None-Match"] = cursor["etag"]
        if cursor.get("last_modified"):
            headers["If-Modified-Since"] = cursor["last_modified"]
        response = await self._get(client, url, headers)
        if response.status_code == 304:
            return 0
        if response.status_code >= 400:
            self.ctx.count_error(self.name, f"http_{response.status_code}")
            return 0
        parsed = feedparser.parse(response.content)
        if parsed.get("bozo") and not parsed.entries:
            reason = f"feed {url} is not valid RSS/Atom: {parsed.get('bozo_exception')!r}"
            await emit([Rejected(response.content[:65_536], reason[:500], "invalid_feed")])
            return 0
        seen: list[str] = list(cursor.get("seen", []))
        known = set(seen)
        title = parsed.feed.get("title")
        items = []
        new_ids = []
        for entry in reversed(parsed.entries):  # feeds list newest first
            try:
                guid = entry_id(entry)
            except ValueError:
                guid = None
            if guid is not None and guid in known:
                continue
            item = candidate(entry, lambda e: entry_fields(e, feed_url=url, feed_title=title))
            if item is not None:
                items.append(item)
            if guid is not None:
                new_ids.append(guid)
                known.add(guid)
        if items and not await emit(items):
            return 0
        await self.ctx.cursors.put(
            key,
            {
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
                "seen": (seen + new_ids)[-SEEN_KEPT:],
            },
        )
        return len(items)

    async def _get(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str]
    ) -> httpx.Response:
        allow = self.ctx.settings.fetch_allow_private
        for _ in range(MAX_REDIRECTS + 1):
            await check_url(url, allow_private=allow)
            response = await client.get(url, headers=headers)
            if response.status_code not in {301, 302, 303, 307, 308}:
                return response
            url = urljoin(url, response.headers.get("location", ""))
        raise ForbiddenAddress(f"too many redirects fetching {url!r}")
