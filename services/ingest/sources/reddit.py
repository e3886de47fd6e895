"""Reddit: poll subreddit listings (`/r/{sub}/new`) and searches (`/search`), newest first.

Each poll walks pages with the listing's `after` token until it reaches the newest post
emitted last time (stored in `connector_cursors`), then emits oldest first and only then
moves the cursor, so a restart resumes without gaps or duplicates. `X-Ratelimit-Remaining`
and `X-Ratelimit-Reset` are honoured before the quota runs out; a 429 waits for the reset.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import httpx

from services.ingest.core.assess import Candidate, Rejected
from services.ingest.core.normalize import from_epoch
from services.ingest.sources.base import Emit, ReconnectBackoff, Source, candidate
from services.ingest.sources.fetch import make_client
from shared import serde
from shared.errors import InvalidRecord
from shared.resilience import wait_or_stop

log = logging.getLogger(__name__)

PLATFORM = "reddit"


def post_fields(child: dict[str, Any]) -> dict[str, Any] | None:
    """A listing child (`{"kind": "t3", "data": {...}}`) as `MentionIn` fields."""
    if child.get("kind") not in {"t3", "t1"}:
        return None
    data = child["data"]
    title = data.get("title") or ""
    body = data.get("selftext") or data.get("body") or ""
    permalink = data.get("permalink")
    return {
        "platform": PLATFORM,
        "external_id": data["name"],
        "url": f"https://www.reddit.com{permalink}" if permalink else data.get("url"),
        "author": data.get("author_fullname") or data.get("author") or "[deleted]",
        "text": f"{title}\n\n{body}".strip(),
        "created_at": from_epoch(float(data["created_utc"])),
        "engagement": {
            "likes": max(0, int(data.get("score") or 0)),
            "replies": max(0, int(data.get("num_comments") or 0)),
        },
        "in_reply_to": data.get("parent_id"),
        "kind": "updated" if data.get("edited") else "created",
        "source": {"subreddit": data.get("subreddit")},
    }


class RedditSource(Source):
    """Polls every subscribed subreddit and query of every watchlist."""

    name = "reddit"

    def wanted(self) -> bool:
        """True when some watchlist subscribes to subreddits or queries."""
        return bool(self._listings())

    def _listings(self) -> list[tuple[str, str, dict[str, str]]]:
        seen: dict[str, tuple[str, str, dict[str, str]]] = {}
        for watchlist in self.ctx.watchlists.watchlists:
            sub = watchlist.sources.reddit
            for name in sub.subreddits:
                key = f"reddit:r/{name.lower()}"
                seen.setdefault(key, (key, f"/r/{quote(name)}/new.json", {}))
            for query in sub.queries:
                key = f"reddit:search:{query}"
                params = {"q": query, "sort": "new", "type": "link"}
                seen.setdefault(key, (key, "/search.json", params))
        return list(seen.values())

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Poll all listings every `reddit_poll_s` until stopped."""
        settings = self.ctx.settings
        headers = {"User-Agent": settings.reddit_user_agent}
        if settings.reddit_token is not None:
            headers["Authorization"] = f"Bearer {settings.reddit_token.get_secret_value()}"
        backoff = ReconnectBackoff(scale=settings.backoff_scale)
        async with make_client(settings, base_url=settings.reddit_base_url, headers=headers) as c:
            while not stop.is_set():
                for key, path, params in self._listings():
                    if stop.is_set():
                        return
                    await self._poll(c, key, path, params, emit, stop, backoff)
                if await wait_or_stop(stop, settings.reddit_poll_s):
                    return

    async def _poll(
        self,
        client: httpx.AsyncClient,
        key: str,
        path: str,
        params: dict[str, str],
        emit: Emit,
        stop: asyncio.Event,
        backoff: ReconnectBackoff,
    ) -> None:
        cursor = await self.ctx.cursors.get(key) or {}
        newest_seen = cursor.get("newest")
        newest_ts = float(cursor.get("newest_created", 0.0))
        collected: list[tuple[float, Candidate]] = []
        first_name: str | None = None
        first_ts = newest_ts
        after: str | None = None
        for _ in range(self.ctx.settings.reddit_max_pages):
            page = await self._get(
                client,
                path,
                {**params, "limit": "100", "raw_json": "1", **({"after": after} if after else {})},
                stop,
                backoff,
            )
            if page is None:
                return
            if isinstance(page, Rejected):
                await emit([page])
                return
            children, after = page
            reached = False
            for child in children:
                name, created = _identity(child)
                if name is not None and (
                    name == newest_seen or (created is not None and created < newest_ts)
                ):
                    reached = True
                    break
                if first_name is None and name is not None and created is not None:
                    first_name, first_ts = name, created
                item = candidate(child, post_fields)
                if item is not None:
                    collected.append((created or 0.0, item))
            if reached or not after:
                break
        if not collected:
            return
        collected.sort(key=lambda pair: pair[0])
        if await emit([item for _, item in collected]) and first_name is not None:
            await self.ctx.cursors.put(key, {"newest": first_name, "newest_created": first_ts})

    async def _get(
        self,
        client: httpx.AsyncClient,
        path: str,
        params: dict[str, str],
        stop: asyncio.Event,
        backoff: ReconnectBackoff,
    ) -> tuple[list[Any], str | None] | Rejected | None:
        """One listing page (children, after); a `Rejected` when it is no listing."""
        while not stop.is_set():
            try:
                response = await client.get(path, params=params)
            except httpx.HTTPError as exc:
                self.ctx.count_error(self.name, "network")
                log.warning("reddit %s: %s", path, type(exc).__name__)
                if await wait_or_stop(stop, backoff.network()):
                    return None
                continue
            if response.status_code == 429:
                self.ctx.count_error(self.name, "rate_limited")
                reset = _float(response.headers.get("x-ratelimit-reset"))
                if await wait_or_stop(stop, backoff.rate_limited(reset)):
                    return None
                continue
            if response.status_code >= 400:
                self.ctx.count_error(self.name, f"http_{response.status_code}")
                if await wait_or_stop(stop, backoff.http()):
                    return None
                continue
            backoff.reset()
            await self._respect_quota(response, stop)
            try:
                listing = serde.loads(response.content)
                data = listing["data"]
                return list(data["children"]), data.get("after")
            except (InvalidRecord, KeyError, TypeError) as exc:
                self.ctx.count_error(self.name, "bad_listing")
                return Rejected(response.content, f"not a Reddit listing: {exc}")
        return None

    async def _respect_quota(self, response: httpx.Response, stop: asyncio.Event) -> None:
        remaining = _float(response.headers.get("x-ratelimit-remaining"))
        reset = _float(response.headers.get("x-ratelimit-reset"))
        if remaining is not None and reset is not None and remaining < 1:
            log.info("reddit quota used up; waiting %.0fs for the reset", reset)
            await wait_or_stop(stop, reset)


def _identity(child: Any) -> tuple[str | None, float | None]:
    """The fullname and creation time of a listing child, when it has them."""
    data = child.get("data") if isinstance(child, dict) else None
    if not isinstance(data, dict):
        return None, None
    name = data.get("name") if isinstance(data.get("name"), str) else None
    return name, _float(str(data["created_utc"])) if "created_utc" in data else None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
