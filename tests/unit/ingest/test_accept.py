"""`Ingestor.accept`: one outcome per item, de-duplication, dead letters, Kafka refusals; and
the push answer built from the outcomes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from services.ingest.core.assess import Rejected, parse
from services.ingest.core.watchlist import Watchlist, WatchlistStore
from services.ingest.metrics import IngestMetrics
from services.ingest.pipeline import Ingestor, Outcome, tally
from services.ingest.sources.push import PushResult
from shared.errors import BrokerUnavailable
from shared.settings.ingest import IngestSettings


class FakePublisher:
    """Records what would be produced; fails like the real one when `down` (before sending)."""

    def __init__(self) -> None:
        self.produced: list[tuple[bytes, dict[str, Any]]] = []
        self.dead: list[tuple[bytes, str, str]] = []
        self.received = 0
        self.down = False

    def count_received(self, source: str, count: int) -> None:
        self.received += count

    async def publish_encoded(self, messages: list[tuple[bytes, bytes]], *, source: str) -> int:
        if self.down and messages:
            raise BrokerUnavailable("broker down")
        self.produced += [(k, orjson.loads(v)) for k, v in messages]
        return len(messages)

    async def reject(self, original: bytes, reason: str, *, source: str, code: str) -> None:
        if self.down:
            raise BrokerUnavailable("broker down")
        self.dead.append((original, reason, code))


def _ingestor(*, watched: bool = True) -> tuple[Ingestor, FakePublisher, IngestMetrics]:
    publisher = FakePublisher()
    metrics = IngestMetrics(CollectorRegistry())
    acme = Watchlist.model_validate({"brand": "acme", "aliases": ["Acme"]})
    ingestor = Ingestor(
        settings=IngestSettings(),
        publisher=publisher,  # type: ignore[arg-type]
        watchlists=WatchlistStore.of([acme] if watched else []),
        metrics=metrics,
    )
    return ingestor, publisher, metrics


def _item(external_id: str, text: str = "Acme kettle leaks", **extra: Any) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": external_id,
        "author": "u1",
        "text": text,
        "created_at": "2026-11-25T10:00:00Z",
        **extra,
    }


BATCH = [_item("p1"), _item("p1"), _item("p2", "nothing here"), _item("p3", created_at="x")]


async def test_one_outcome_per_item_in_order() -> None:
    ingestor, publisher, metrics = _ingestor()
    outcomes = await ingestor.accept([parse(i) for i in BATCH], source="push")
    assert [o.status for o in outcomes] == ["accepted", "duplicate", "unmatched", "invalid"]
    assert [o.external_id for o in outcomes[:3]] == ["p1", "p1", "p2"]
    assert outcomes[2].reason and "watched brand" in outcomes[2].reason
    assert outcomes[3].reason and "created_at" in outcomes[3].reason
    assert [(k, v["external_id"]) for k, v in publisher.produced] == [(b"acme", "p1")]
    # Only the invalid item is dead-lettered; the unmatched one is counted.
    assert len(publisher.dead) == 1 and publisher.dead[0][2] == "invalid_schema"
    assert publisher.received == 4
    assert metrics.unmatched.labels("push")._value.get() == 1
    assert metrics.duplicates.labels("push")._value.get() == 1
    assert tally(outcomes) == {"accepted": 1, "duplicate": 1, "unmatched": 1, "invalid": 1}


async def test_repeats_and_updates_across_and_within_batches() -> None:
    ingestor, publisher, _ = _ingestor()
    await ingestor.accept([parse(_item("p1"))], source="push")
    again = await ingestor.accept([parse(_item("p1"))], source="replay")
    assert [o.status for o in again] == ["duplicate"]  # remembered whatever the source
    edited = parse(_item("p1", "Acme kettle leaks, and now it sparks"))
    counted = parse(_item("p1", "Acme kettle leaks, and now it sparks", engagement={"likes": 9}))
    outcomes = await ingestor.accept([edited, counted], source="push")
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert [v["kind"] for _, v in publisher.produced] == ["created", "updated", "updated"]


async def test_rejected_candidates_pass_through() -> None:
    ingestor, publisher, _ = _ingestor()
    outcomes = await ingestor.accept([Rejected(b"<xml/>", "not JSON", "invalid_json")], source="x")
    assert [(o.status, o.reason) for o in outcomes] == [("invalid", "not JSON")]
    assert publisher.dead == [(b"<xml/>", "not JSON", "invalid_json")]


async def test_kafka_down_remembers_nothing() -> None:
    ingestor, publisher, _ = _ingestor()
    publisher.down = True
    with pytest.raises(BrokerUnavailable):
        await ingestor.accept([parse(i) for i in BATCH], source="push")
    publisher.down = False
    outcomes = await ingestor.accept([parse(i) for i in BATCH], source="push")
    assert [o.status for o in outcomes] == ["accepted", "duplicate", "unmatched", "invalid"]
    assert len(publisher.produced) == 1


async def test_watchlist_reload_takes_effect() -> None:
    ingestor, _, _ = _ingestor(watched=False)
    first = await ingestor.accept([parse(_item("p1", "Globex oven"))], source="push")
    assert [o.status for o in first] == ["unmatched"]
    globex = Watchlist.model_validate({"brand": "globex", "aliases": ["Globex"]})
    ingestor.watchlists._watchlists = [globex]
    ingestor.watchlists.version += 1
    second = await ingestor.accept([parse(_item("p1", "Globex oven"))], source="push")
    assert [o.status for o in second] == ["accepted"]


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (["accepted", "invalid"], 207),  # partly accepted
        (["duplicate", "invalid"], 207),  # a retried batch answers as the first time
        (["accepted", "unmatched"], 202),
        (["duplicate", "unmatched"], 202),
        (["unmatched"], 200),
        (["unmatched", "invalid"], 200),
        (["invalid", "invalid"], 422),
    ],
)
def test_push_status_code(statuses: list[str], code: int) -> None:
    result = PushResult.of([Outcome(s) for s in statuses])  # type: ignore[arg-type]
    assert result.status_code == code
    assert sum(getattr(result, s) for s in ("accepted", "duplicate", "unmatched", "invalid")) == (
        len(statuses)
    )
    assert [i.index for i in result.items] == list(range(len(statuses)))
