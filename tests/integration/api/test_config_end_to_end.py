"""Configuration through the API drives the running services end to end.

The real API (push route and admin routes), the real sentiment service and the real
alerting service on real Kafka and PostgreSQL:

- a rule created with `POST /v1/rules` opens an incident from pushed mentions;
- a competitor listed in a watchlist stored with `PUT /v1/watchlists`, without a watchlist
  of its own, is matched and has share of voice, and never opens an incident (not even
  under a rule naming it);
- the markets of a stored watchlist (by language) and the market a source sets reach the
  stored mentions, the incident's scope and the trends `market` filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import delete, select

from services.alerting.service import serve as serve_alerting
from services.ingest.core.watchlist import parse_watchlist
from services.sentiment.service import serve as serve_sentiment
from shared.db.config_models import RuleRow
from shared.db.engine import transaction
from shared.db.models import IncidentRow, MentionRow, SignalRow
from shared.settings.alerting import AlertingSettings
from shared.settings.notify import NotifySettings
from shared.settings.sentiment import SentimentSettings
from tests.integration.api.conftest import RunningApi
from tests.kafka_helpers import wait_for

NEGATIVE = [
    "My {b} kettle exploded while boiling, absolutely terrible and dangerous!",
    "Worst product ever, the {b} kettle is broken and support is useless. Awful.",
    "I hate {b}, my kettle arrived broken and they refuse a refund.",
    "Horrible experience, the {b} kettle burned my desk. Disgusting quality.",
]
POLL_S = 0.5
EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "watchlists" / "acme.yaml"


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {"watchlist_poll_s": POLL_S}


@pytest.fixture
async def workers(settings_factory: Any) -> AsyncIterator[CollectorRegistry]:
    """The sentiment and alerting services; yields the alerting service's registry."""
    registry = CollectorRegistry()
    sentiment: SentimentSettings = settings_factory(SentimentSettings)
    alerting: AlertingSettings = settings_factory(
        AlertingSettings,
        alerting_rules_poll_s=POLL_S,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=2.0,
        alerting_lateness_s=1.0,
    )
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(serve_sentiment(sentiment, stop, registry=CollectorRegistry())),
        asyncio.create_task(
            serve_alerting(alerting, stop, registry=registry, notify_settings=NotifySettings())
        ),
    ]
    try:
        yield registry
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=30)


def _item(n: int, text: str, at: datetime, author: str) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": f"cfg-{n}",
        "author": author,
        "text": text,
        "language": "en",
        "created_at": at.isoformat(),
    }


async def _rows(engine: Any, stmt: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).all())


async def test_api_rule_opens_incident_and_competitor_has_voice_only(
    api: RunningApi, workers: CollectorRegistry, db_engine: Any, unique: str
) -> None:
    brand, name, rival = f"kettlo-{unique}", f"Kettlo{unique}", f"brewco{unique}"
    rule_name = f"kettlo-negatives-{unique}"
    rules = [
        {
            "name": rule_name,
            "brand": brand,
            "definition": {
                "metric": "negative",
                "window_minutes": 5,
                "threshold": 8,
                "severity": "SEV2",
            },
        },
        # A rule naming the competitor: competitor mentions never reach detection.
        {
            "name": f"brewco-negatives-{unique}",
            "brand": rival,
            "definition": {"metric": "negative", "window_minutes": 5, "threshold": 1},
        },
    ]
    rule_ids: list[int] = []
    async with api.client("admin") as admin:
        try:
            watchlist = {"brand": brand, "aliases": [name], "competitors": [rival]}
            resp = await admin.put(f"/v1/watchlists/{brand}", json=watchlist)
            assert resp.status_code == 201, resp.text
            created_at = time.monotonic()
            for rule in rules:
                resp = await admin.post("/v1/rules", json=rule)
                assert resp.status_code == 201, resp.text
                rule_ids.append(resp.json()["id"])

            async def loaded() -> float | None:
                return workers.get_sample_value("crisiswatch_alerting_rules_loaded")

            # The running worker picks the rules up by polling, without a restart (how fast
            # is a figure for the log, not an assertion: these machines are noisy).
            count = await wait_for(
                loaded, lambda v: v is not None and v >= 2, timeout_s=60, interval_s=0.05
            )
            assert count is not None and count >= 2, "the worker never loaded the new rules"
            rules_staleness = time.monotonic() - created_at

            # Twelve authors complain about the brand, twelve others about the competitor,
            # all in the last minutes (closed bins once the brand goes idle).
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
            ours = [
                _item(i, NEGATIVE[i % 4].format(b=name), start + timedelta(seconds=10 * i), f"u{i}")
                for i in range(12)
            ]
            theirs = [
                _item(
                    100 + i,
                    NEGATIVE[i % 4].format(b=rival.capitalize()),
                    start + timedelta(seconds=10 * i),
                    f"r{i}",
                )
                for i in range(12)
            ]

            async def push_first() -> httpx.Response:
                return await admin.post("/v1/mentions", json=[ours[0], theirs[0]])

            first = await wait_for(push_first, lambda r: r.json().get("accepted") == 2)
            assert first.json()["accepted"] == 2, first.text
            rest = await admin.post("/v1/mentions", json=ours[1:] + theirs[1:])
            assert rest.json()["accepted"] == 22, rest.text

            signals = await wait_for(
                lambda: _rows(db_engine, select(SignalRow).where(SignalRow.brand == brand)),
                lambda rows: any(r.rule == f"rule:{rule_name}" for r in rows),
                timeout_s=120,
            )
            fired = [r for r in signals if r.rule == f"rule:{rule_name}"]
            assert len(fired) == 1, [r.rule for r in signals]
            assert fired[0].value >= 8 and fired[0].details["rule_id"] == rule_ids[0]
            incidents = await _rows(
                db_engine, select(IncidentRow).where(IncidentRow.brand == brand)
            )
            assert len(incidents) == 1 and incidents[0].status == "open"
            assert fired[0].incident_id == incidents[0].id
            assert incidents[0].severity in ("SEV1", "SEV2")

            # The competitor: stored and counted, never detected on.
            stored = await _rows(
                db_engine,
                select(MentionRow.brands).where(MentionRow.brand == rival),
            )
            assert len(stored) == 12 and all(r.brands == [rival] for r in stored)
            sov = (
                await admin.get(
                    "/v1/share-of-voice",
                    params={
                        "brand": brand,
                        "start": (start - timedelta(hours=1)).isoformat(),
                        "end": (start + timedelta(hours=1)).isoformat(),
                    },
                )
            ).json()
            assert sov["competitors_from"] == "watchlist"
            assert {s["brand"]: s["volume"] for s in sov["shares"]} == {brand: 12, rival: 12}
            for table in (IncidentRow, SignalRow):
                rows = await _rows(db_engine, select(table).where(table.brand == rival))
                assert rows == []
            print(f"rules loaded {rules_staleness:.2f}s after POST (poll every {POLL_S}s)")
        finally:
            for rule_id in rule_ids:
                await admin.delete(f"/v1/rules/{rule_id}")
            await admin.delete(f"/v1/watchlists/{brand}")


async def test_a_broken_stored_rule_is_reported_and_skipped(
    api: RunningApi, workers: CollectorRegistry, db_engine: Any, unique: str
) -> None:
    """A definition no version of the API would accept (edited in the database) is skipped."""
    broken, good = f"broken-{unique}", f"good-{unique}"
    async with transaction(db_engine) as session:
        session.add(RuleRow(name=broken, brand="*", definition={"metric": "nope"}))
    async with api.client("admin") as admin:
        resp = await admin.post(
            "/v1/rules",
            json={
                "name": good,
                "brand": f"nobody-{unique}",
                "definition": {"metric": "volume", "threshold": 10**6},
            },
        )
        assert resp.status_code == 201, resp.text
        try:

            async def errors() -> float | None:
                return workers.get_sample_value(
                    "crisiswatch_alerting_rule_errors_total", {"rule": broken}
                )

            assert (await wait_for(errors, lambda v: bool(v), interval_s=0.1)) == 1.0

            # The worker is alive and evaluates the valid rule (which may be loaded by the
            # poll after the one that met the broken rule alone).
            async def loaded() -> float | None:
                return workers.get_sample_value("crisiswatch_alerting_rules_loaded")

            count = await wait_for(loaded, lambda v: bool(v), interval_s=0.05)
            assert count is not None and count >= 1
        finally:
            await admin.delete(f"/v1/rules/{resp.json()['id']}")
            async with transaction(db_engine) as session:
                await session.execute(delete(RuleRow).where(RuleRow.name == broken))


GERMAN = [
    "Mein {b} Wasserkocher ist kaputt, schrecklicher Service!",
    "Der {b} Kundendienst antwortet nicht, sehr enttäuschend.",
]
ENGLISH = ["My {b} kettle stopped working after a week.", "Anyone else waiting on {b} support?"]


async def test_watchlist_markets_reach_mentions_incident_scope_and_trends(
    api: RunningApi, workers: CollectorRegistry, db_engine: Any, unique: str
) -> None:
    brand, name = f"markto-{unique}", f"Markto{unique}"
    watchlist = {
        "brand": brand,
        "aliases": [name],
        "markets": ["DE", "AT", "US"],
        "languages": ["de", "en"],
        "language_markets": {"de": ["DE", "AT"], "en": ["US"]},
    }
    rule = {
        "name": f"markto-volume-{unique}",
        "brand": brand,
        "definition": {"metric": "volume", "window_minutes": 5, "threshold": 12},
    }
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    items = []
    for i in range(12):
        if i < 5:
            language, text = "de", GERMAN[i % 2]
        else:
            language, text = "en", ENGLISH[i % 2]
        item = _item(200 + i, text.format(b=name), start + timedelta(seconds=10 * i), f"m{i}")
        item["language"] = language
        if i >= 10:
            item["market"] = "ch"  # the source knows the country: it wins over the mapping
        items.append(item)
    rule_id = None
    async with api.client("admin") as admin:
        try:
            resp = await admin.put(f"/v1/watchlists/{brand}", json=watchlist)
            assert resp.status_code == 201, resp.text
            resp = await admin.post("/v1/rules", json=rule)
            assert resp.status_code == 201, resp.text
            rule_id = resp.json()["id"]

            async def push_first() -> httpx.Response:
                return await admin.post("/v1/mentions", json=items[:1])

            first = await wait_for(push_first, lambda r: r.json().get("accepted") == 1)
            assert first.json()["accepted"] == 1, first.text
            assert (await admin.post("/v1/mentions", json=items[1:])).json()["accepted"] == 11

            incidents = await wait_for(
                lambda: _rows(db_engine, select(IncidentRow).where(IncidentRow.brand == brand)),
                lambda rows: len(rows) >= 1,
                timeout_s=120,
            )
            assert len(incidents) == 1
            assert incidents[0].scope["markets"] == ["AT", "CH", "DE", "US"]

            stored = await _rows(
                db_engine,
                select(MentionRow.external_id, MentionRow.markets).where(MentionRow.brand == brand),
            )
            markets = {ext: list(ms) for ext, ms in stored}
            assert markets["cfg-200"] == ["AT", "DE"] and markets["cfg-205"] == ["US"]
            assert markets["cfg-211"] == ["CH"]

            span = {
                "brand": brand,
                "start": (start - timedelta(hours=1)).isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
            }
            volumes = {}
            for market in ("DE", "at", "US", "CH", "FR"):
                resp = await admin.get("/v1/trends", params={**span, "market": market})
                assert resp.status_code == 200, resp.text
                volumes[market] = resp.json()["series"][0]["total_volume"]
            assert volumes == {"DE": 5, "at": 5, "US": 5, "CH": 2, "FR": 0}
        finally:
            if rule_id is not None:
                await admin.delete(f"/v1/rules/{rule_id}")
            await admin.delete(f"/v1/watchlists/{brand}")


async def test_example_watchlist_competitors_have_share_of_voice(
    api: RunningApi, workers: CollectorRegistry, db_engine: Any, unique: str
) -> None:
    """The shipped example (deploy/watchlists/acme.yaml) imported through the API: its
    competitors, which have no watchlist, are counted."""
    example = parse_watchlist(EXAMPLE.read_text(encoding="utf-8"), origin=str(EXAMPLE))
    assert example.competitors == ["globex", "initech"]
    now = datetime.now(UTC).replace(microsecond=0)
    texts = [
        "Globex kettles beat the Acme RoadRunner Kettle",
        "Switching from Acme to Initech, sorry",
        "Globex support answered in minutes",
        "Initech or Globex, which one?",
    ]
    items = [
        {
            **_item(300 + i, text, now - timedelta(seconds=i), f"v{i}"),
            "external_id": f"sov-{unique}-{i}",
        }
        for i, text in enumerate(texts)
    ]
    async with api.client("admin") as admin:
        try:
            definition = example.model_dump(mode="json")
            resp = await admin.put(f"/v1/watchlists/{example.brand}", json=definition)
            assert resp.status_code in (200, 201), resp.text

            async def push_first() -> httpx.Response:
                return await admin.post("/v1/mentions", json=items[:1])

            assert (await wait_for(push_first, lambda r: r.json().get("accepted") == 1)).json()[
                "accepted"
            ] == 1
            assert (await admin.post("/v1/mentions", json=items[1:])).json()["accepted"] == 3
            span = {
                "brand": example.brand,
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(hours=1)).isoformat(),
            }

            async def voice() -> dict[str, int]:
                body = (await admin.get("/v1/share-of-voice", params=span)).json()
                assert body["competitors_from"] == "watchlist", body
                return {s["brand"]: s["volume"] for s in body["shares"]}

            volumes = await wait_for(voice, lambda v: v.get("initech", 0) >= 2, timeout_s=90)
            assert volumes["globex"] >= 3 and volumes["initech"] >= 2 and volumes["acme"] >= 2
        finally:
            await admin.delete(f"/v1/watchlists/{example.brand}")


async def test_watched_competitor_crisis_opens_a_sev4_competitor_incident(
    api: RunningApi, workers: CollectorRegistry, db_engine: Any, unique: str
) -> None:
    """`watch_competitors: true`: a competitor's crisis, ignored by default, opens a
    low-severity competitor incident (a rule naming it at SEV2 still opens SEV4)."""
    brand, name, rival = f"watcho-{unique}", f"Watcho{unique}", f"rivalco{unique}"
    watchlist = {
        "brand": brand,
        "aliases": [name],
        "competitors": [rival],
        "watch_competitors": True,
    }
    rule = {
        "name": f"rivalco-negatives-{unique}",
        "brand": rival,
        "definition": {"metric": "negative", "window_minutes": 5, "threshold": 8,
                       "severity": "SEV2"},
    }  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    theirs = [
        _item(
            400 + i,
            NEGATIVE[i % 4].format(b=rival.capitalize()),
            start + timedelta(seconds=10 * i),
            f"k{i}",
        )
        for i in range(12)
    ]
    rule_id = None
    async with api.client("admin") as admin:
        try:
            resp = await admin.put(f"/v1/watchlists/{brand}", json=watchlist)
            assert resp.status_code == 201, resp.text
            assert resp.json()["definition"]["watch_competitors"] is True
            resp = await admin.post("/v1/rules", json=rule)
            assert resp.status_code == 201, resp.text
            rule_id = resp.json()["id"]

            async def push_first() -> httpx.Response:
                return await admin.post("/v1/mentions", json=theirs[:1])

            first = await wait_for(push_first, lambda r: r.json().get("accepted") == 1)
            assert first.json()["accepted"] == 1, first.text
            assert (await admin.post("/v1/mentions", json=theirs[1:])).json()["accepted"] == 11

            incidents = await wait_for(
                lambda: _rows(db_engine, select(IncidentRow).where(IncidentRow.brand == rival)),
                lambda rows: len(rows) >= 1,
                timeout_s=120,
            )
            assert len(incidents) == 1
            incident = incidents[0]
            assert (incident.severity, incident.category) == ("SEV4", "competitor")
            assert incident.title.startswith(f"{rival} (competitor):")
            stored = await _rows(
                db_engine, select(MentionRow.brands).where(MentionRow.brand == rival)
            )
            assert len(stored) == 12
            ours = await _rows(db_engine, select(IncidentRow).where(IncidentRow.brand == brand))
            assert ours == []
            async with api.client("responder") as responder:
                detail = (await responder.get(f"/v1/incidents/{incident.id}")).json()
            assert detail["severity"] == "SEV4" and detail["category"] == "competitor"
        finally:
            if rule_id is not None:
                await admin.delete(f"/v1/rules/{rule_id}")
            await admin.delete(f"/v1/watchlists/{brand}")
            async with transaction(db_engine) as session:
                await session.execute(delete(IncidentRow).where(IncidentRow.brand == rival))
