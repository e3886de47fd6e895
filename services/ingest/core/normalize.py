"""Pure normalisation: a pushed or fetched post becomes a `Mention` (no I/O here)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.schemas import MENTION_SCHEMA_VERSION, Engagement, Mention, utc

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u2028\u2029\ufeff]")
_HASHTAG = re.compile(r"(?:^|(?<=\s))#(\w{1,100})", re.UNICODE)


class MentionIn(BaseModel):
    """A mention as pushed to `POST /v1/mentions` (raw author id; brands optional)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    platform: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,31}$", examples=["reddit"])
    external_id: str = Field(min_length=1, max_length=256, examples=["t3_abc123"])
    url: str | None = Field(default=None, max_length=2048)
    author: str = Field(min_length=1, max_length=256, description="platform author id or handle")
    author_reach: int | None = Field(default=None, ge=0)
    text: str = Field(min_length=1, max_length=1_000_000)
    language: str | None = Field(default=None, max_length=16)
    created_at: AwareDatetime
    engagement: Engagement = Field(default_factory=Engagement)
    hashtags: list[str] = Field(default_factory=list, max_length=100)
    in_reply_to: str | None = Field(default=None, max_length=256)
    quote_of: str | None = Field(default=None, max_length=256)
    brands: list[str] = Field(default_factory=list, max_length=32)
    kind: str = Field(default="created", pattern=r"^(created|updated)$")
    market: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}$",
        description="the country the post is from or about (ISO 3166-1 alpha-2), when known",
        examples=["DE"],
    )
    source: dict[str, Any] = Field(default_factory=dict)

    def given_market(self) -> str | None:
        """The market the source set: `market`, else `source.market` or `source.country`."""
        value = self.market or self.source.get("market") or self.source.get("country")
        if isinstance(value, str) and len(value) == 2 and value.isalpha() and value.isascii():
            return value.upper()
        return None

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc(value)


def pseudonymize(platform: str, author: str, secret: bytes) -> str:
    """Keyed HMAC-SHA256 of platform and author id: stable, not reversible without the key."""
    return _pseudonymize(platform, author, secret)


@lru_cache(maxsize=65_536)
def _pseudonymize(platform: str, author: str, secret: bytes) -> str:
    # Cached: the same authors post again and again, and replay hashes 100k records.
    digest = hmac.new(secret, f"{platform}\x1f{author}".encode(), hashlib.sha256).hexdigest()
    return f"a_{digest[:32]}"


def clean_text(text: str, max_chars: int) -> tuple[str, bool]:
    """NFC-normalise, drop control characters, cap the length; return (text, truncated)."""
    cleaned = _CONTROL.sub("", text.replace("\r\n", "\n"))
    # Normalise after removing controls: a control between a letter and its accent would
    # otherwise leave a decomposable pair behind.
    cleaned = unicodedata.normalize("NFC", cleaned).strip()
    if len(cleaned) <= max_chars:
        return cleaned, False
    cut = unicodedata.normalize("NFC", cleaned[:max_chars])
    return cut[:max_chars], True


def extract_hashtags(text: str) -> list[str]:
    """Lower-cased hashtags in order of first appearance."""
    seen: dict[str, None] = {}
    for tag in _HASHTAG.findall(text):
        seen.setdefault(tag.lower(), None)
    return list(seen)


def check_brands(brands: list[str]) -> list[str]:
    """Brands as `Mention.brands` requires them (1-32 names of 1-64 characters)."""
    names = list(dict.fromkeys(b.strip() for b in brands if b and b.strip()))
    if not names:
        raise ValueError("no brand for this mention")
    if len(names) > 32 or any(len(b) > 64 for b in names):
        raise ValueError("brands: at most 32 names of at most 64 characters")
    return names


def mention_fields(
    item: MentionIn,
    *,
    brands: list[str],
    competitors: list[str] | None = None,
    watched_competitors: list[str] | None = None,
    markets: list[str] | None = None,
    secret: bytes,
    keep_handles: bool,
    max_chars: int,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """Every field of the normalised `Mention` for `item`, matched to `brands`.

    `item` is validated already and every other field is checked here, so the event can be
    built (or encoded straight to JSON) without a second validation pass.
    """
    text, truncated = clean_text(item.text, max_chars)
    if not text:
        raise ValueError("text is empty after removing control characters")
    hashtags = [h.lstrip("#").lower() for h in item.hashtags if h.lstrip("#")]
    return {
        "schema_version": MENTION_SCHEMA_VERSION,
        "kind": "updated" if item.kind == "updated" else "created",
        "platform": item.platform,
        "external_id": item.external_id,
        "url": item.url,
        "author_id": pseudonymize(item.platform, item.author, secret),
        "author_handle": item.author if keep_handles else None,
        "author_reach": item.author_reach,
        "text": text,
        "truncated": truncated,
        "language_hint": item.language,
        "created_at": created_at or item.created_at,
        "ingested_at": datetime.now(UTC),
        "engagement": item.engagement,
        "hashtags": (hashtags or extract_hashtags(text))[:100],
        "in_reply_to": item.in_reply_to,
        "quote_of": item.quote_of,
        "brands": check_brands(brands),
        "competitors": competitors or [],
        "watched_competitors": watched_competitors or [],
        "markets": markets or [],
        "source": item.source,
    }


def to_mention(
    item: MentionIn,
    *,
    brands: list[str],
    secret: bytes,
    keep_handles: bool,
    max_chars: int,
    created_at: datetime | None = None,
) -> Mention:
    """Build the normalised `Mention` for `item`, matched to `brands`."""
    fields = mention_fields(
        item,
        brands=brands,
        secret=secret,
        keep_handles=keep_handles,
        max_chars=max_chars,
        created_at=created_at,
    )
    return Mention.model_construct(**fields)


def encode_fields(fields: dict[str, Any]) -> bytes:
    """The `Mention` JSON of `mention_fields(...)`, without building the model."""
    e: Engagement = fields["engagement"]
    plain = {
        **fields,
        "engagement": {
            "likes": e.likes,
            "shares": e.shares,
            "replies": e.replies,
            "views": e.views,
        },
    }
    return orjson.dumps(plain)


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment; block elements become line breaks."""

    _BREAKS = frozenset({"br", "p", "div", "li", "blockquote", "h1", "h2", "h3", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS and self.parts:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment (Mastodon statuses, feed summaries)."""
    if "<" not in html and "&" not in html:
        return html
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


def from_epoch(seconds: float) -> datetime:
    """A UTC datetime from Unix seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def language_tag(value: str | None) -> str | None:
    """A platform's language tag as a short lower-case hint (`en-US` -> `en`), or None."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    return primary[:16] if primary.isalpha() else None
