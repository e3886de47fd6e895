"""Values sent to PostgreSQL as text (array literals, COPY lines) must round-trip exactly."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sentiment.core.author_keys import author_key
from services.sentiment.core.prepared import (
    MENTION_COLUMNS,
    UPDATED_COLUMNS,
    array_literal,
    copy_field,
    copy_line,
    mention_record,
    prepare,
)
from shared.schemas import Engagement, Mention, ScoredMention, SentimentScore

_ELEMENT = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _parse(literal: str) -> list[str]:
    """Read back a literal made of quoted elements, as PostgreSQL's array_in does."""
    assert literal.startswith("{") and literal.endswith("}")
    body = literal[1:-1]
    elements = [re.sub(r"\\(.)", r"\1", m.group(1)) for m in _ELEMENT.finditer(body)]
    rebuilt = ",".join(f'"{e}"' for e in (m.group(1) for m in _ELEMENT.finditer(body)))
    assert rebuilt == body, f"unexpected text between elements in {literal!r}"
    return elements


@pytest.mark.parametrize(
    "values",
    [
        [],
        [""],
        ["recall"],
        ["a", "b c", "NULL", "{", "}", ","],
        ['say "no"'],
        ["back\\slash", "plain"],
        ['"', "\\", '\\"', '""'],
        ["émoji 🔥", "中文"],
    ],
)
def test_array_literal_round_trips(values: list[str]) -> None:
    literal = array_literal(values)
    assert _parse(literal) == values


def test_array_literal_quotes_every_element() -> None:
    assert array_literal(["a", "NULL"]) == '{"a","NULL"}'
    assert array_literal(['x"y']) == '{"x\\"y"}'
    assert array_literal([]) == "{}"


def _read_copy_field(text: str) -> str | None:
    """Undo COPY text escaping as PostgreSQL does."""
    if text == "\\N":
        return None
    escapes = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    return re.sub(r"\\[\\tnr]", lambda m: escapes[m.group(0)], text)


@pytest.mark.parametrize(
    "record",
    [
        ("plain", None, 3, 1.5, True, False),
        ("tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N", "\\"),
        (None, None, "\\N", None),
        ("", "  ", "🔥中文", "a\\tb"),
    ],
)
def test_copy_line_reads_back_every_value(record: tuple[object, ...]) -> None:
    line = copy_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    fields = line[:-1].decode().split("\t")
    assert len(fields) == len(record)
    expected = [v if v is None or isinstance(v, str) else copy_field(v) for v in record]
    assert [_read_copy_field(f) for f in fields] == expected


def test_copy_field_formats_non_text_values() -> None:
    when = datetime(2026, 3, 2, 10, 15, 7, 120, tzinfo=UTC)
    assert copy_field(when) == "2026-03-02T10:15:07.000120+00:00"
    assert float(copy_field(0.1 + 0.2)) == 0.1 + 0.2
    assert (copy_field(True), copy_field(False), copy_field(None)) == ("t", "f", "\\N")
    assert copy_field(2**62) == str(2**62)
    with pytest.raises(TypeError):
        copy_field(b"bytes")


def _scored(**changes: Any) -> ScoredMention:
    mention_fields: dict[str, Any] = {
        "platform": "reddit",
        "external_id": "t3_abc",
        "author_id": "a" * 64,
        "text": "The kettle broke",
        "created_at": datetime(2026, 3, 2, 10, 15, 7, 120, tzinfo=UTC),
        "ingested_at": datetime(2026, 3, 2, 10, 15, 9, tzinfo=UTC),
        "brands": ["acme", "globex"],
    }
    mention = Mention(**{**mention_fields, **changes.pop("mention", {})})
    fields: dict[str, Any] = {
        "mention": mention,
        "language": "en",
        "language_confidence": 0.97,
        "sentiment": SentimentScore(label="negative", score=-0.6, confidence=0.8, scorer="vader"),
        "emotions": {"anger": 0.5, "neutral": 0.1},
        "emotion": "anger",
        "topics": ["product_quality", "recall"],
        "keywords": ["kettle"],
        "scored_at": datetime(2026, 3, 2, 10, 15, 10, tzinfo=UTC),
    }
    return ScoredMention(**{**fields, **changes})


@pytest.mark.parametrize(
    "scored_mention",
    [
        _scored(),
        _scored(sentiment=None, emotion=None, emotions={}, topics=[], keywords=[]),
        _scored(
            mention={
                "url": "https://e.example/x?a=1\tb",
                "author_handle": "@h\\x",
                "author_reach": 0,
                "language_hint": "en",
                "hashtags": ['q"uote', "back\\slash", "NULL"],
                "in_reply_to": "\\N",
                "quote_of": "q",
                "source": {"feed": "tab\there", "n": 1, "nested": {"k": [1.5, None]}},
                "engagement": Engagement(likes=5, shares=2, replies=1, views=10**12),
                "truncated": True,
            }
        ),
        _scored(mention={"kind": "updated", "author_reach": 10**9}, keywords=["line\nbreak"]),
        # Texts that read like COPY's NULL, with nothing else to escape on the line.
        _scored(mention={"in_reply_to": "\\N"}),
        _scored(mention={"text": "\\N", "url": None}, sentiment=None, emotion=None),
    ],
)
def test_prepare_writes_the_row_and_keys_of_the_general_path(
    scored_mention: ScoredMention,
) -> None:
    prepared = prepare(scored_mention)
    record = mention_record(scored_mention)
    assert prepared.copy_line == copy_line(record)
    fields = prepared.copy_line[:-1].decode().split("\t")
    assert len(fields) == len(MENTION_COLUMNS)
    m = scored_mention.mention
    pairs = [(b, t) for b in m.brands for t in ("", *scored_mention.topics)]
    minute = prepared.minute
    assert prepared.author_keys == tuple(
        author_key(b, minute, t, m.platform, scored_mention.language, m.author_id) for b, t in pairs
    )
    assert len(set(prepared.author_keys)) == len(pairs)
    assert prepared.minute_epoch == int(minute.timestamp())
    if m.kind == "updated":
        columns = [MENTION_COLUMNS.index(c) for c in UPDATED_COLUMNS]
        assert prepared.update_values == tuple(record[i] for i in columns)
    else:
        assert prepared.update_values == ()


_AWKWARD = st.text(
    alphabet=st.sampled_from(["a", "N", "\\", "\t", "\n", "\r", '"', "中", " "]), max_size=16
)


@given(
    text=_AWKWARD.filter(bool),
    optional=st.lists(st.one_of(st.none(), st.just("\\N"), _AWKWARD), min_size=5, max_size=5),
    scored_at_all=st.booleans(),
    keyword=_AWKWARD,
)
@settings(max_examples=300, deadline=None)
def test_prepare_matches_the_general_path_on_awkward_text(
    text: str, optional: list[str | None], scored_at_all: bool, keyword: str
) -> None:
    url, handle, hint, reply, quote = optional
    scored_mention = _scored(
        mention={
            "text": text, "url": url, "author_handle": handle, "language_hint": hint,
            "in_reply_to": reply, "quote_of": quote,
        },
        keywords=[keyword],
        **({} if scored_at_all else {"sentiment": None, "emotion": None}),
    )  # fmt: skip
    assert prepare(scored_mention).copy_line == copy_line(mention_record(scored_mention))
