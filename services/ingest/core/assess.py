"""The assessment of one raw item, the same for every source (pure, no I/O).

A source hands over a `MentionIn` (or a `Rejected` it could not parse). Assessing it gives
one of three answers:

- `Ready`: the encoded `Mention` event plus what de-duplication needs (identity, digest);
- `Unmatched`: the post names no watched brand; counted and reported, never dead-lettered;
- `Rejected`: the item is invalid; dead-lettered with its reason.

Brand rule: with watchlists loaded, a mention's brands are the matched ones plus the
payload's brands that are watched (a Page owner's comments need not name the brand);
without watchlists the payload's brands are used as given. Tracked competitors (listed by
a watchlist, without one of their own) count as watched: they come after the watched
brands and are named in the mention's `competitors`.

Replay assesses in worker processes, so the configuration and every answer pickle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from pydantic import ValidationError

from services.ingest.core.matching import Matcher
from services.ingest.core.normalize import MentionIn, encode_fields, mention_fields
from services.ingest.core.watchlist import Watchlist
from shared import serde
from shared.errors import InvalidRecord
from shared.schemas import Engagement

UNMATCHED = "no watched brand matched this mention"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An invalid item: dead-lettered with its original bytes and `reason`; `code` labels it."""

    raw: bytes
    reason: str
    code: str = "invalid_payload"


class Ready(NamedTuple):
    """A valid, matched item: its encoded `Mention` and what de-duplication needs."""

    platform: str
    external_id: str
    digest: int
    key: bytes  # the Kafka key: the first brand
    value: bytes  # the `Mention` JSON
    created_ts: float  # the post's own time in Unix seconds (replay paces by it)


class Unmatched(NamedTuple):
    """A valid item that names no watched brand."""

    platform: str
    external_id: str


Candidate = MentionIn | Rejected
Assessment = Ready | Unmatched | Rejected


def content_digest(text: str, e: Engagement) -> int:
    """What makes a re-seen mention worth an `updated` event: its text and engagement."""
    data = f"{e.likes}/{e.shares}/{e.replies}/{e.views}/{text}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def resolve_brands(item: MentionIn, matcher: Matcher, *, configured: bool) -> list[str]:
    """Matched brands plus the payload's watched brands; the payload's alone when unwatched."""
    given = list(dict.fromkeys(b for b in item.brands if b))
    if not configured:
        return given
    matched = matcher.match(item.text)
    watched = set(matcher.brands)
    rivals = set(matcher.competitors)
    found = dict.fromkeys([*matched, *(b for b in given if b in watched or b in rivals)])
    # Watched brands first: the first brand keys the Kafka record and the stored mention.
    return [b for b in found if b not in rivals] + [b for b in found if b in rivals]


def parse(value: Any, *, raw: bytes | None = None) -> Candidate:
    """A decoded JSON value (one pushed or replayed item) as a `MentionIn`, else `Rejected`.

    `raw` is what a rejection dead-letters (the value re-encoded when not given).
    """
    if not isinstance(value, dict):
        reason = f"item must be a JSON object, got {type(value).__name__}"
        return Rejected(raw if raw is not None else serde.dumps(value), reason, "invalid_schema")
    try:
        return MentionIn.model_validate(value)
    except ValidationError as exc:
        original = raw if raw is not None else serde.dumps(value)
        return Rejected(original, serde.describe_validation_error(exc), "invalid_schema")


def parse_json(raw: bytes) -> Candidate:
    """One JSON document (a replayed JSONL line) as a `MentionIn`, else `Rejected`."""
    # pydantic-core parses and validates in one pass; a line it refuses takes the slower
    # path, which gives the same reason as `parse` (its own messages differ, for instance
    # for a line that is no object).
    try:
        return MentionIn.model_validate_json(raw)
    except ValidationError:
        pass
    try:
        value = serde.loads(raw)
    except InvalidRecord as exc:
        return Rejected(raw, exc.reason, "invalid_json")
    return parse(value, raw=raw)


@dataclass(frozen=True, slots=True)
class AssessConfig:
    """What assessing needs: the watchlists and the normalisation settings."""

    watchlists: tuple[Watchlist, ...]
    configured: bool
    secret: bytes
    keep_handles: bool
    max_chars: int
    offset: timedelta = timedelta(0)  # added to `created_at` (replay's --rebase)


class Assessor:
    """Matches and normalises candidates with one configuration (one watchlist version)."""

    def __init__(self, config: AssessConfig) -> None:
        self.config = config
        self.matcher = Matcher(list(config.watchlists))
        self.rivals = frozenset(self.matcher.competitors)
        self.watched_rivals = frozenset(self.matcher.watched_competitors)
        self._by_brand = {w.brand: w for w in config.watchlists}

    def markets(self, item: MentionIn, brands: list[str]) -> list[str]:
        """The source's market, else those its brands' watchlists map its language to."""
        given = item.given_market()
        if given is not None:
            return [given]
        found: dict[str, None] = {}
        for brand in brands:
            watchlist = self._by_brand.get(brand)
            if watchlist is not None:
                found.update(dict.fromkeys(watchlist.markets_of(item.language)))
        return sorted(found)

    def brands(self, item: MentionIn) -> list[str]:
        """The brands `item` is about (see the module docstring for the rule)."""
        return resolve_brands(item, self.matcher, configured=self.config.configured)

    def assess(self, item: Candidate, *, raw: bytes | None = None) -> Assessment:
        """`item` as `Ready`, `Unmatched` or `Rejected`; `raw` is what a rejection keeps."""
        if isinstance(item, Rejected):
            return item
        config = self.config
        brands = resolve_brands(item, self.matcher, configured=config.configured)
        if not brands:
            return Unmatched(item.platform, item.external_id)
        try:
            fields = mention_fields(
                item,
                brands=brands,
                competitors=[b for b in brands if b in self.rivals],
                watched_competitors=[b for b in brands if b in self.watched_rivals],
                markets=self.markets(item, brands),
                secret=config.secret,
                keep_handles=config.keep_handles,
                max_chars=config.max_chars,
                created_at=item.created_at + config.offset if config.offset else None,
            )
            value = encode_fields(fields)
        except ValidationError as exc:
            return self._refuse(item, raw, serde.describe_validation_error(exc))
        except (ValueError, TypeError) as exc:  # TypeError: a `source` orjson cannot encode
            return self._refuse(item, raw, str(exc))
        return Ready(
            item.platform,
            item.external_id,
            content_digest(fields["text"], fields["engagement"]),
            fields["brands"][0].encode(),
            value,
            item.created_at.timestamp(),
        )

    @staticmethod
    def _refuse(item: MentionIn, raw: bytes | None, reason: str) -> Rejected:
        if raw is None:
            try:
                raw = serde.dumps(item.model_dump(mode="json"))
            except (ValueError, TypeError):
                raw = repr(item).encode()
        return Rejected(raw, reason, "invalid_value")
