"""The assessment of one item: parsing, the brand rule, normalisation, and its three answers."""

from __future__ import annotations

import pickle
from datetime import timedelta

import orjson
import pytest
from pydantic import ValidationError

from services.ingest.core.assess import (
    UNMATCHED,
    AssessConfig,
    Assessor,
    Ready,
    Rejected,
    Unmatched,
    parse,
    parse_json,
)
from services.ingest.core.normalize import MentionIn
from services.ingest.core.watchlist import Watchlist
from shared.schemas import Mention

ACME = Watchlist.model_validate({"brand": "acme", "aliases": ["Acme"]})


def _config(*watchlists: Watchlist, offset: timedelta = timedelta(0)) -> AssessConfig:
    return AssessConfig(
        watchlists=watchlists,
        configured=bool(watchlists),
        secret=b"0123456789abcdef",
        keep_handles=False,
        max_chars=5_000,
        offset=offset,
    )


def _item(**extra: object) -> dict[str, object]:
    return {
        "platform": "x",
        "external_id": "p1",
        "author": "u1",
        "text": "My Acme kettle leaks",
        "created_at": "2026-11-25T10:00:00Z",
        **extra,
    }


def test_parse_and_parse_json_give_the_same_answers() -> None:
    for value in (_item(), _item(text=""), _item(created_at="not a date"), "a string", [1]):
        raw = orjson.dumps(value)
        from_value, from_line = parse(value, raw=raw), parse_json(raw)
        assert type(from_value) is type(from_line)
        if isinstance(from_value, Rejected):
            assert isinstance(from_line, Rejected)
            assert from_value == from_line
            assert from_value.code == "invalid_schema"
    not_object = parse("a string")
    assert isinstance(not_object, Rejected)
    assert not_object.reason == "item must be a JSON object, got str"
    bad = parse_json(b"{not json")
    assert isinstance(bad, Rejected) and bad.code == "invalid_json" and bad.raw == b"{not json"


def test_ready_is_the_mention_event() -> None:
    assessor = Assessor(_config(ACME))
    item = parse(_item(engagement={"likes": 3}))
    assert isinstance(item, MentionIn)
    ready = assessor.assess(item)
    assert isinstance(ready, Ready)
    mention = Mention.model_validate_json(ready.value)
    assert (mention.platform, mention.external_id, mention.brands) == ("x", "p1", ["acme"])
    assert ready.key == b"acme" and mention.author_id.startswith("a_")
    assert ready.created_ts == item.created_at.timestamp()
    same = assessor.assess(item)
    assert isinstance(same, Ready) and same.digest == ready.digest
    more = assessor.assess(item.model_copy(update={"text": "My Acme kettle leaks again"}))
    assert isinstance(more, Ready) and more.digest != ready.digest


def test_brand_rule_watched_and_unwatched() -> None:
    watched = Assessor(_config(ACME))
    nobody = parse(_item(text="a kettle leaks", brands=["nike"]))
    assert isinstance(nobody, MentionIn)
    assert watched.assess(nobody) == Unmatched("x", "p1")
    # A Page owner's comment need not name the brand: a watched payload brand is kept.
    owned = nobody.model_copy(update={"brands": ["acme", "nike"]})
    ready = watched.assess(owned)
    assert isinstance(ready, Ready)
    assert Mention.model_validate_json(ready.value).brands == ["acme"]
    # Without watchlists the payload's brands are used as given; none is unmatched.
    unwatched = Assessor(_config())
    assert isinstance(unwatched.assess(nobody), Ready)
    no_brand = nobody.model_copy(update={"brands": []})
    assert unwatched.assess(no_brand) == Unmatched("x", "p1")
    assert "watched brand" in UNMATCHED


def test_invalid_value_keeps_the_raw_bytes() -> None:
    item = parse(_item(text="\u200b\x00"))  # nothing left after removing control characters
    assert isinstance(item, MentionIn)
    refused = Assessor(_config(ACME)).assess(item.model_copy(update={"brands": ["acme"]}))
    assert isinstance(refused, Rejected) and refused.code == "invalid_value"
    assert "empty" in refused.reason
    kept = Assessor(_config()).assess(item.model_copy(update={"brands": ["acme"]}), raw=b"line")
    assert isinstance(kept, Rejected) and kept.raw == b"line"


def test_offset_moves_created_at_not_the_pacing_time() -> None:
    item = parse(_item())
    assert isinstance(item, MentionIn)
    ready = Assessor(_config(ACME, offset=timedelta(hours=1))).assess(item)
    assert isinstance(ready, Ready)
    mention = Mention.model_validate_json(ready.value)
    assert mention.created_at == item.created_at + timedelta(hours=1)
    assert ready.created_ts == item.created_at.timestamp()


def test_answers_and_configuration_pickle() -> None:
    """Replay assesses in worker processes."""
    config = _config(ACME)
    assert pickle.loads(pickle.dumps(config)) == config
    item = parse(_item())
    assert isinstance(item, MentionIn)
    for answer in (Assessor(config).assess(item), Unmatched("x", "1"), Rejected(b"r", "why")):
        assert pickle.loads(pickle.dumps(answer)) == answer


def test_markets_come_from_the_source_else_the_watchlist_language_map() -> None:
    watchlists = (
        Watchlist(
            brand="acme",
            markets=["DE", "AT", "US"],
            language_markets={"de": ["DE", "AT"], "en": ["US"]},
        ),
        Watchlist(brand="solo", markets=["FR"]),
    )
    assessor = Assessor(_config(*watchlists))

    def item(**extra: object) -> MentionIn:
        return MentionIn.model_validate(
            {
                "platform": "x",
                "external_id": "1",
                "author": "a",
                "text": "t",
                "created_at": "2026-12-01T00:00:00Z",
                **extra,
            }
        )

    assert assessor.markets(item(language="de"), ["acme"]) == ["AT", "DE"]
    assert assessor.markets(item(language="fr"), ["acme"]) == []  # unmapped, several markets
    assert assessor.markets(item(language="fr"), ["acme", "solo"]) == ["FR"]  # its only one
    assert assessor.markets(item(language="de", market="ch"), ["acme"]) == ["CH"]
    assert assessor.markets(item(source={"country": "it"}), ["acme"]) == ["IT"]


def test_language_markets_must_be_watched_markets() -> None:
    with pytest.raises(ValidationError, match="not in markets"):
        Watchlist(brand="acme", markets=["DE"], language_markets={"en": ["US"]})
