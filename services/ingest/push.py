"""Validation of pushed batches: each item becomes a `Mention` or a rejection with its reason."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.ingest.core.normalize import MentionIn, to_mention
from shared import serde
from shared.errors import InvalidRecord
from shared.schemas import Mention

BrandResolver = Callable[[MentionIn], list[str]]


def brands_from_payload(item: MentionIn) -> list[str]:
    """Use the brands the pusher named (deduplicated, order kept)."""
    return list(dict.fromkeys(b for b in item.brands if b))


@dataclass(frozen=True, slots=True)
class ItemResult:
    """Outcome of one pushed item."""

    index: int
    mention: Mention | None
    reason: str | None
    code: str | None
    raw: bytes

    def as_json(self) -> dict[str, Any]:
        """The per-item entry of the HTTP answer."""
        if self.mention is not None:
            return {
                "index": self.index,
                "status": "accepted",
                "platform": self.mention.platform,
                "external_id": self.mention.external_id,
            }
        return {"index": self.index, "status": "rejected", "reason": self.reason}


def parse_batch(body: bytes, *, max_items: int) -> list[Any]:
    """Decode the body into a list of items: a JSON array or `{"mentions": [...]}`."""
    payload = serde.loads(body)
    if isinstance(payload, dict) and isinstance(payload.get("mentions"), list):
        payload = payload["mentions"]
    if not isinstance(payload, list):
        raise InvalidRecord('body must be a JSON array of mentions or {"mentions": [...]}')
    if not payload:
        raise InvalidRecord("batch is empty")
    if len(payload) > max_items:
        raise InvalidRecord(f"batch has {len(payload)} items; the limit is {max_items}")
    return payload


def validate_items(
    items: Sequence[Any],
    *,
    resolve_brands: BrandResolver,
    secret: bytes,
    keep_handles: bool,
    max_chars: int,
) -> list[ItemResult]:
    """Normalise each item; invalid ones get a one-line reason naming the failing field."""
    results = []
    for index, raw_item in enumerate(items):
        raw = serde.dumps(raw_item)
        try:
            if not isinstance(raw_item, dict):
                raise InvalidRecord(f"item must be a JSON object, got {type(raw_item).__name__}")
            item = MentionIn.model_validate(raw_item)
            brands = resolve_brands(item)
            if not brands:
                raise InvalidRecord("no watched brand matched this mention")
            mention = to_mention(
                item, brands=brands, secret=secret, keep_handles=keep_handles, max_chars=max_chars
            )
        except ValidationError as exc:
            reason = serde.describe_validation_error(exc)
            results.append(ItemResult(index, None, reason, "invalid_schema", raw))
            continue
        except InvalidRecord as exc:
            results.append(ItemResult(index, None, exc.reason, "unmatched", raw))
            continue
        except ValueError as exc:
            results.append(ItemResult(index, None, str(exc), "invalid_value", raw))
            continue
        results.append(ItemResult(index, mention, None, None, raw))
    return results
