"""X API v2 filtered stream: rules kept in sync with the watchlists, NDJSON over one response.

Rules (tag = brand) are reconciled through `GET/POST /2/tweets/search/stream/rules` before
each connection. The stream sends one JSON object per line and a bare newline every few
seconds as keep-alive; silence longer than `x_stream_timeout_s` means a stalled connection.
Reconnects follow X's documented back-off (see `Backoff`). An edited post arrives as a new
id whose `edit_history_tweet_ids` starts with the original: it becomes `kind="updated"` of
the original id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from services.ingest.core.assess import Rejected
from services.ingest.core.normalize import language_tag
from services.ingest.core.watchlist import Watchlist
from services.ingest.sources.base import (
    Emit,
    ReconnectBackoff,
    Source,
    candidate,
    unless_stopped,
)
from services.ingest.sources.fetch import make_client
from shared import serde
from shared.errors import CrisiswatchError, InvalidRecord
from shared.resilience import wait_or_stop

log = logging.getLogger(__name__)

PLATFORM = "x"
RULES = "/2/tweets/search/stream/rules"
STREAM = "/2/tweets/search/stream"
STREAM_PARAMS = {
    "expansions": "author_id,referenced_tweets.id,geo.place_id",
    "tweet.fields": "created_at,public_metrics,lang,author_id,conversation_id,"
    "referenced_tweets,entities,edit_history_tweet_ids,geo",
    "user.fields": "username,public_metrics",
    "place.fields": "country_code",
}
MAX_RULE_LENGTH = 512


class RuleSyncError(CrisiswatchError):
    """X refused the rule changes."""


def rules_for(watchlist: Watchlist) -> list[str]:
    """Filtered-stream rule values for one brand (split to stay under the length limit)."""
    sub = watchlist.sources.x
    terms = [f'"{t}"' if " " in t else t for t in watchlist.terms if '"' not in t]
    terms += [f"#{h.lstrip('#')}" for h in sub.hashtags]
    rules: list[str] = []
    current: list[str] = []
    for term in terms:
        candidate_rule = "(" + " OR ".join([*current, term]) + ") -is:retweet"
        if current and len(candidate_rule) > MAX_RULE_LENGTH:
            rules.append("(" + " OR ".join(current) + ") -is:retweet")
            current = []
        current.append(term)
    if current:
        rules.append("(" + " OR ".join(current) + ") -is:retweet")
    return rules + list(sub.queries)


def tweet_fields(message: dict[str, Any]) -> dict[str, Any] | None:
    """One stream line (`{"data": Tweet, "includes": {...}}`) as `MentionIn` fields."""
    if "data" not in message:
        return None
    tweet = message["data"]
    includes = message.get("includes") or {}
    users = {u["id"]: u for u in includes.get("users", [])}
    places = {p["id"]: p for p in includes.get("places", []) if "id" in p}
    place = places.get((tweet.get("geo") or {}).get("place_id"), {})
    author = users.get(tweet.get("author_id"), {})
    metrics = tweet.get("public_metrics") or {}
    refs = {r["type"]: r["id"] for r in tweet.get("referenced_tweets") or []}
    history = tweet.get("edit_history_tweet_ids") or [tweet["id"]]
    tags = [h["tag"] for h in (tweet.get("entities") or {}).get("hashtags", [])]
    brands = [r["tag"] for r in message.get("matching_rules", []) if r.get("tag")]
    return {
        "platform": PLATFORM,
        "external_id": history[0],
        "url": f"https://x.com/i/web/status/{tweet['id']}",
        "author": tweet["author_id"],
        "author_reach": (author.get("public_metrics") or {}).get("followers_count"),
        "text": tweet["text"],
        "language": language_tag(tweet.get("lang")),
        "created_at": tweet["created_at"],
        "engagement": {
            "likes": metrics.get("like_count", 0),
            "shares": metrics.get("retweet_count", 0) + metrics.get("quote_count", 0),
            "replies": metrics.get("reply_count", 0),
            "views": metrics.get("impression_count", 0),
        },
        "hashtags": tags,
        "in_reply_to": refs.get("replied_to"),
        "quote_of": refs.get("quoted"),
        "brands": brands,
        "kind": "updated" if len(history) > 1 else "created",
        # A tagged place names the country: the mention's market (else the watchlists map).
        "market": _country(place.get("country_code")),
        "source": {"rules": [r.get("id") for r in message.get("matching_rules", [])]},
    }


def _country(code: Any) -> str | None:
    if isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha():
        return code.upper()
    return None


class XStreamSource(Source):
    """Holds one filtered-stream connection for all watched brands."""

    name = "x"

    def wanted(self) -> bool:
        """True with a bearer token and at least one watchlist."""
        return self.ctx.settings.x_bearer_token is not None and self.ctx.watchlists.configured

    async def sync_rules(self, client: httpx.AsyncClient) -> None:
        """Make the stream's rules equal to what the watchlists ask for."""
        wanted = {
            (value, w.brand) for w in self.ctx.watchlists.watchlists for value in rules_for(w)
        }
        response = await client.get(RULES)
        if response.status_code >= 400:
            raise RuleSyncError(f"GET rules: HTTP {response.status_code}")
        current = serde.loads(response.content).get("data") or []
        have = {(r["value"], r.get("tag")): r["id"] for r in current}
        stale = [rule_id for key, rule_id in have.items() if key not in wanted]
        missing = [{"value": v, "tag": t} for v, t in sorted(wanted) if (v, t) not in have]
        if stale:
            response = await client.post(RULES, json={"delete": {"ids": stale}})
            if response.status_code >= 400:
                raise RuleSyncError(f"delete rules: HTTP {response.status_code}")
        if missing:
            response = await client.post(RULES, json={"add": missing})
            if response.status_code >= 400:
                raise RuleSyncError(f"add rules: HTTP {response.status_code}")
            errors = serde.loads(response.content).get("errors") or []
            if errors:
                log.error("X refused %d rules: %s", len(errors), errors[:3])

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Connect, read, reconnect with back-off, until stopped."""
        settings = self.ctx.settings
        if settings.x_bearer_token is None:
            return
        headers = {"Authorization": f"Bearer {settings.x_bearer_token.get_secret_value()}"}
        timeout = httpx.Timeout(settings.connector_http_timeout_s, read=settings.x_stream_timeout_s)
        backoff = ReconnectBackoff(scale=settings.backoff_scale)
        async with make_client(
            settings, base_url=settings.x_base_url, headers=headers, timeout=timeout
        ) as client:
            while not stop.is_set():
                try:
                    await self.sync_rules(client)
                    wait = await unless_stopped(self._stream(client, emit, stop, backoff), stop)
                except (RuleSyncError, InvalidRecord) as exc:
                    self.ctx.count_error(self.name, "rules")
                    log.error("x rules: %s", exc)
                    wait = backoff.http()
                except httpx.HTTPError as exc:
                    self.ctx.count_error(self.name, "network")
                    log.warning("x stream: %s", type(exc).__name__)
                    wait = backoff.network()
                if wait is None or await wait_or_stop(stop, wait):
                    return

    async def _stream(
        self, client: httpx.AsyncClient, emit: Emit, stop: asyncio.Event, backoff: ReconnectBackoff
    ) -> float | None:
        """Read one connection; return the wait before reconnecting (None: stopping)."""
        async with client.stream("GET", STREAM, params=STREAM_PARAMS) as response:
            if response.status_code == 429:
                self.ctx.count_error(self.name, "rate_limited")
                return backoff.rate_limited()
            if response.status_code >= 400:
                self.ctx.count_error(self.name, f"http_{response.status_code}")
                return backoff.http()
            backoff.reset()
            async for line in response.aiter_lines():
                if stop.is_set():
                    return None
                if not line.strip():
                    continue  # keep-alive
                raw = line.encode()
                try:
                    message = serde.loads(raw)
                except InvalidRecord as exc:
                    item: Any = Rejected(raw, exc.reason, "invalid_json")
                else:
                    if isinstance(message, dict) and "errors" in message and "data" not in message:
                        log.warning("x stream error message: %s", message["errors"][:1])
                        self.ctx.count_error(self.name, "stream_error")
                        continue
                    item = candidate(message, tweet_fields)
                if item is not None and not await emit([item]):
                    return None
        self.ctx.count_error(self.name, "disconnected")
        return backoff.network()
