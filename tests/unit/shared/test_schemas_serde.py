"""Event schemas and the orjson serde: round trips, UTC, versioning, clear errors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared import serde
from shared.errors import InvalidRecord
from shared.schemas import (
    MAX_COUNT,
    DeadLetter,
    Engagement,
    Mention,
    ScoredMention,
    SentimentScore,
)


def _mention(**overrides: object) -> Mention:
    values: dict[str, object] = {
        "platform": "reddit",
        "external_id": "t3_1",
        "author_id": "a_123",
        "text": "Acme kettle broke",
        "created_at": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        "brands": ["acme", "kettleco"],
        "engagement": Engagement(likes=3, shares=2, replies=1, views=100),
    }
    values.update(overrides)
    return Mention.model_validate(values)


def test_mention_round_trips_through_serde() -> None:
    mention = _mention(hashtags=["recall"], source={"subreddit": "gadgets"})
    decoded = serde.decode(Mention, serde.dumps(mention))
    assert decoded == mention
    assert decoded.schema_version == 1
    assert decoded.key == b"acme"
    assert decoded.identity == ("reddit", "t3_1")
    assert decoded.engagement.total == 6


def test_created_at_is_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    mention = _mention(created_at=datetime(2026, 11, 25, 12, 0, tzinfo=plus_two))
    assert mention.created_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert mention.created_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        _mention(created_at=datetime(2026, 11, 25, 10, 0))


def test_unknown_schema_version_is_refused_with_reason() -> None:
    payload = serde.loads(serde.dumps(_mention()))
    payload["schema_version"] = 2
    with pytest.raises(InvalidRecord, match="schema_version"):
        serde.decode(Mention, serde.dumps(payload))


def test_invalid_json_names_the_problem() -> None:
    with pytest.raises(InvalidRecord, match="invalid JSON"):
        serde.decode(Mention, b"{not json")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(literal: bytes) -> None:
    payload = serde.dumps(_mention(source={"x": 1}))
    with pytest.raises(InvalidRecord, match="invalid JSON"):
        serde.decode(Mention, payload.replace(b'{"x":1}', b'{"x":' + literal + b"}"))
    # The same bytes inside a string are text, and decode normally.
    text = serde.dumps(_mention(text=f"score {literal.decode()}"))
    assert serde.decode(Mention, text).text == f"score {literal.decode()}"


def test_decoding_bytes_and_str_agree_on_valid_and_invalid_input() -> None:
    payload = serde.dumps(_mention(text='中文 🔥 \\ "q"', hashtags=["a"]))
    assert serde.decode(Mention, payload) == serde.decode(Mention, payload.decode())
    broken = payload.replace(b'"brands":["acme","kettleco"]', b'"brands":[]')
    with pytest.raises(InvalidRecord) as from_bytes:
        serde.decode(Mention, broken)
    with pytest.raises(InvalidRecord) as from_str:
        serde.decode(Mention, broken.decode())
    assert from_bytes.value.reason == from_str.value.reason and "brands" in from_bytes.value.reason


@pytest.mark.parametrize("field", ["likes", "shares", "replies", "views"])
def test_counts_beyond_a_trillion_are_refused(field: str) -> None:
    payload = serde.loads(serde.dumps(_mention()))
    payload["engagement"][field] = MAX_COUNT
    assert getattr(serde.decode(Mention, serde.dumps(payload)).engagement, field) == MAX_COUNT
    payload["engagement"][field] = 2**63  # would overflow PostgreSQL's bigint
    with pytest.raises(InvalidRecord, match=field):
        serde.decode(Mention, serde.dumps(payload))
    with pytest.raises(ValueError, match="author_reach"):
        _mention(author_reach=MAX_COUNT + 1)


def test_missing_fields_are_listed() -> None:
    with pytest.raises(InvalidRecord) as info:
        serde.decode(Mention, b'{"platform": "x"}')
    assert "external_id" in info.value.reason and "text" in info.value.reason


def test_extra_fields_are_refused() -> None:
    payload = serde.loads(serde.dumps(_mention()))
    payload["surprise"] = 1
    with pytest.raises(InvalidRecord, match="surprise"):
        serde.decode(Mention, serde.dumps(payload))


def test_a_mention_needs_a_brand() -> None:
    with pytest.raises(ValueError, match="brands"):
        _mention(brands=[])


def test_scored_mention_round_trip_and_negativity() -> None:
    scored = ScoredMention(
        mention=_mention(),
        language="en",
        language_confidence=0.93,
        sentiment=SentimentScore(label="negative", score=-0.6, confidence=0.8, scorer="vader"),
        emotions={"anger": 0.7, "neutral": 0.3},
        emotion="anger",
        topics=["product_quality"],
    )
    decoded = serde.decode(ScoredMention, serde.dumps(scored))
    assert decoded == scored
    assert decoded.is_negative
    unscored = scored.model_copy(update={"sentiment": None})
    assert not unscored.is_negative


def test_sentiment_score_is_bounded() -> None:
    with pytest.raises(ValueError):
        SentimentScore(label="positive", score=1.5, confidence=0.5, scorer="x")


def test_dead_letter_keeps_original_bytes() -> None:
    raw = b"\xff\xfe broken"
    letter = DeadLetter(
        reason="invalid JSON",
        stage="sentiment",
        source="mentions.raw/0@1",
        original=raw.decode("utf-8", errors="replace"),
        original_b64=base64.b64encode(raw).decode(),
    )
    decoded = serde.decode(DeadLetter, serde.dumps(letter))
    assert base64.b64decode(decoded.original_b64 or "") == raw


def test_dumps_accepts_plain_values() -> None:
    assert serde.loads(serde.dumps({"a": [1, 2], 3: "x"})) == {"a": [1, 2], "3": "x"}
