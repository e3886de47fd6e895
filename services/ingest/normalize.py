"""Pure normalisation: a pushed or fetched post becomes a `Mention` (no I/O here)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.schemas import Engagement, Mention, utc

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
    source: dict[str, Any] = Field(default_factory=dict)

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc(value)


def pseudonymize(platform: str, author: str, secret: bytes) -> str:
    """Keyed HMAC-SHA256 of platform and author id: stable, not reversible without the key."""
    digest = hmac.new(secret, f"{platform}\x1f{author}".encode(), hashlib.sha256).hexdigest()
    return f"a_{digest[:32]}"


def clean_text(text: str, max_chars: int) -> tuple[str, bool]:
    """NFC-normalise, drop control characters, cap the length; return (text, truncated)."""
    cleaned = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    cleaned = cleaned.replace("\r\n", "\n").strip()
    if len(cleaned) > max_chars:
        return cleaned[:max_chars], True
    return cleaned, False


def extract_hashtags(text: str) -> list[str]:
    """Lower-cased hashtags in order of first appearance."""
    seen: dict[str, None] = {}
    for tag in _HASHTAG.findall(text):
        seen.setdefault(tag.lower(), None)
    return list(seen)


def to_mention(
    item: MentionIn,
    *,
    brands: list[str],
    secret: bytes,
    keep_handles: bool,
    max_chars: int,
) -> Mention:
    """Build the normalised `Mention` for `item`, matched to `brands`."""
    text, truncated = clean_text(item.text, max_chars)
    if not text:
        raise ValueError("text is empty after removing control characters")
    hashtags = [h.lstrip("#").lower() for h in item.hashtags] or extract_hashtags(text)
    return Mention(
        kind="updated" if item.kind == "updated" else "created",
        platform=item.platform,
        external_id=item.external_id,
        url=item.url,
        author_id=pseudonymize(item.platform, item.author, secret),
        author_handle=item.author if keep_handles else None,
        author_reach=item.author_reach,
        text=text,
        truncated=truncated,
        language_hint=item.language,
        created_at=item.created_at,
        engagement=item.engagement,
        hashtags=hashtags[:100],
        in_reply_to=item.in_reply_to,
        quote_of=item.quote_of,
        brands=brands,
        source=item.source,
    )
