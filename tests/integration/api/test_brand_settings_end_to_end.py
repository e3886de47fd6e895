"""A brand's preset and routes set through the API change the running services.

The real API, sentiment and alerting services on real Kafka and PostgreSQL, delivering to
local Slack, SMTP and webhook receivers:

- `PUT /v1/brands/{brand}/settings` with a preset: the alerting worker reloads it without a
  restart and the brand's volume detectors run with that preset's thresholds (their stored
  state carries the config);
- two brands with the same history and rise, one `sensitive` and one `strict`: only the
  first opens a volume-spike incident;
- routes `SEV1/SEV2 -> webhook`: a rule's incident for that brand reaches the webhook only,
  while the service routing would also have sent it to Slack and email.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from services.alerting.detect.spikes import preset
from services.alerting.service import serve as serve_alerting
from services.sentiment.service import serve as serve_sentiment
from shared.db.config_models import AuditLogRow
from shared.db.models import IncidentRow, OutboxRow
from shared.kafka import EventProducer
from shared.settings.alerting import AlertingSettings
from shared.settings.sentiment import SentimentSettings
from tests.detection_helpers import (
    CALM_HOURS,
    RunningAlerting,
    Stream,
    day_shaped_mentions,
    incidents,
    processed_until,
    publish,
    spike_state,
)
from tests.integration.api.conftest import RunningApi
from tests.integration.api.notify_helpers import channels_settings
from tests.integration.api.test_config_end_to_end import NEGATIVE, POLL_S, _item, _rows
from tests.kafka_helpers import wait_for
from tests.notify_fakes import FakeHttp, SmtpServer


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {"watchlist_poll_s": POLL_S}


@pytest.fixture
async def workers(
    settings_factory: Any, slack_webhook: FakeHttp, smtp_server: SmtpServer, webhook_receiver: Any
) -> AsyncIterator[CollectorRegistry]:
    """Sentiment and alerting services delivering to the local receivers."""
    registry = CollectorRegistry()
    alerting: AlertingSettings = settings_factory(
        AlertingSettings,
        alerting_rules_poll_s=POLL_S,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=2.0,
        alerting_lateness_s=1.0,
    )
    notify = channels_settings(slack_webhook, smtp_server, webhook_receiver)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(
            serve_sentiment(settings_factory(SentimentSettings), stop, registry=CollectorRegistry())
        ),
        asyncio.create_task(
            serve_alerting(alerting, stop, registry=registry, notify_settings=notify)
        ),
    ]
    try:
        yield registry
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=30)


async def _push(admin: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    async def first() -> httpx.Response:
        return await admin.post("/v1/mentions", json=items[:1])

    assert (await wait_for(first, lambda r: r.json().get("accepted") == 1)).json()["accepted"] == 1
    if items[1:]:
        resp = await admin.post("/v1/mentions", json=items[1:])
        assert resp.json()["accepted"] == len(items) - 1, resp.text


async def test_api_preset_reaches_the_worker_without_restart(
    api: RunningApi, workers: CollectorRegistry, db_engine: Any, unique: str
) -> None:
    brand, name = f"presto-{unique}", f"Presto{unique}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    async with api.client("admin") as admin:
        try:
            resp = await admin.put(
                f"/v1/watchlists/{brand}", json={"brand": brand, "aliases": [name]}
            )
            assert resp.status_code == 201, resp.text
            resp = await admin.put(f"/v1/brands/{brand}/settings", json={"preset": "strict"})
            assert resp.status_code == 201, resp.text
            assert resp.json()["preset"] == "strict"
            strict = preset("strict").z_sustain

            async def loaded() -> float | None:
                return workers.get_sample_value(
                    "crisiswatch_alerting_brand_presets", {"preset": "strict"}
                )

            assert await wait_for(loaded, lambda v: bool(v), interval_s=0.05)
            await _push(admin, [_item(500, f"{name} kettle review", start, "p0")])
            state = await wait_for(
                lambda: spike_state(db_engine, brand),
                lambda s: s.get("config", {}).get("z_sustain") == strict,
                timeout_s=90,
            )
            assert state["config"]["z_sustain"] == strict

            # Switched to sensitive: the same brand's detectors change thresholds live.
            resp = await admin.put(f"/v1/brands/{brand}/settings", json={"preset": "sensitive"})
            assert resp.status_code == 200, resp.text
            sensitive = preset("sensitive")
            await wait_for(
                lambda: _sample(workers, "sensitive"), lambda v: bool(v), interval_s=0.05
            )
            await _push(admin, [_item(501, f"{name} kettle again", start, "p1")])
            state = await wait_for(
                lambda: spike_state(db_engine, brand),
                lambda s: s.get("config", {}).get("z_sustain") == sensitive.z_sustain,
                timeout_s=90,
            )
            assert state["config"]["min_count"] == sensitive.min_count
            audit = await _rows(
                db_engine,
                select(AuditLogRow.action, AuditLogRow.details).where(
                    AuditLogRow.target == f"brand:{brand}"
                ),
            )
            assert [a for a, _ in audit] == ["brand_settings.put", "brand_settings.put"]
            assert audit[1][1]["before"]["preset"] == "strict"
        finally:
            await admin.delete(f"/v1/brands/{brand}/settings")
            await admin.delete(f"/v1/watchlists/{brand}")


async def _sample(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value("crisiswatch_alerting_brand_presets", {"preset": name})


async def test_api_route_sends_a_brand_incident_to_the_webhook_only(
    api: RunningApi,
    workers: CollectorRegistry,
    db_engine: Any,
    unique: str,
    slack_webhook: FakeHttp,
    smtp_server: SmtpServer,
    webhook_receiver: FakeHttp,
) -> None:
    brand, name = f"routo-{unique}", f"Routo{unique}"
    rule = {
        "name": f"routo-negatives-{unique}",
        "brand": brand,
        "definition": {
            "metric": "negative",
            "window_minutes": 5,
            "threshold": 8,
            "severity": "SEV2",
        },
    }
    routes = {"SEV1": ["webhook"], "SEV2": ["webhook"]}
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    items = [
        _item(600 + i, NEGATIVE[i % 4].format(b=name), start + timedelta(seconds=10 * i), f"w{i}")
        for i in range(12)
    ]
    rule_id = None
    async with api.client("admin") as admin:
        try:
            resp = await admin.put(
                f"/v1/watchlists/{brand}", json={"brand": brand, "aliases": [name]}
            )
            assert resp.status_code == 201, resp.text
            resp = await admin.put(f"/v1/brands/{brand}/settings", json={"routes": routes})
            assert resp.status_code == 201, resp.text
            resp = await admin.post("/v1/rules", json=rule)
            assert resp.status_code == 201, resp.text
            rule_id = resp.json()["id"]
            await wait_for(
                lambda: _loaded(workers), lambda v: v is not None and v >= 1, interval_s=0.05
            )
            await _push(admin, items)

            incidents = await wait_for(
                lambda: _rows(db_engine, select(IncidentRow).where(IncidentRow.brand == brand)),
                lambda rows: len(rows) >= 1,
                timeout_s=120,
            )
            assert len(incidents) == 1 and incidents[0].severity in ("SEV1", "SEV2")
            link = f"/incidents/{incidents[0].id}"
            hooks = await wait_for(
                lambda: _matching(webhook_receiver, link), lambda r: len(r) >= 1, timeout_s=60
            )
            assert len(hooks) == 1
            queued = await _rows(
                db_engine,
                select(OutboxRow.channel).where(OutboxRow.incident_id == incidents[0].id),
            )
            assert [c for (c,) in queued] == ["webhook"]
            assert await _matching(slack_webhook, link) == []
            assert smtp_server.inbox.messages == []
        finally:
            if rule_id is not None:
                await admin.delete(f"/v1/rules/{rule_id}")
            await admin.delete(f"/v1/brands/{brand}/settings")
            await admin.delete(f"/v1/watchlists/{brand}")


async def _loaded(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("crisiswatch_alerting_rules_loaded")


async def _matching(fake: FakeHttp, link: str) -> list[Any]:
    return [r for r in fake.delivered() if link in r.body.decode()]


async def test_brand_settings_input_is_checked(api: RunningApi, unique: str) -> None:
    async with api.client("admin") as admin, api.client("responder") as responder:
        url = f"/v1/brands/chk-{unique}/settings"
        for body in (
            {"preset": "paranoid"},
            {"routes": {"SEV9": ["slack"]}},
            {"routes": {"SEV1": ["pager"]}},
            {"preset": "strict", "colour": "red"},
        ):
            resp = await admin.put(url, json=body)
            assert resp.status_code == 422, (body, resp.text)
        assert (await admin.put("/v1/brands/Bad Brand!/settings", json={})).status_code == 422
        assert (await admin.get(url)).status_code == 404
        assert (await responder.put(url, json={"preset": "strict"})).status_code == 403
        resp = await admin.put(url, json={"routes": {"SEV3": ["slack", "slack", "digest"]}})
        assert resp.status_code == 201 and resp.json()["routes"] == {"SEV3": ["slack", "digest"]}
        listed = (await admin.get("/v1/brands/settings")).json()
        assert f"chk-{unique}" in [b["brand"] for b in listed]
        assert (await admin.delete(url)).status_code == 204
        assert (await admin.delete(url)).status_code == 404


def _dismissed(metrics: str, rule: str) -> float:
    """The value of crisiswatch_incidents_dismissed_total{rule} in a /metrics answer."""
    prefix = f'crisiswatch_incidents_dismissed_total{{rule="{rule}"}} '
    return sum(
        float(line[len(prefix) :]) for line in metrics.splitlines() if line.startswith(prefix)
    )


async def test_repeated_dismissals_propose_a_less_sensitive_preset_applied_by_an_admin(
    api: RunningApi, workers: CollectorRegistry, db_engine: Any, make_incident: Any, unique: str
) -> None:
    brand = f"fp-{unique}"
    url = f"/v1/brands/{brand}"
    async with api.client("admin") as admin, api.client("responder") as responder:
        try:
            before = _dismissed((await admin.get("/metrics")).text, "volume_spike")
            # A user rule's dismissals do not count: the preset does not govern it.
            for rule in ("volume_spike", "volume_spike", "rule:mine", "rule:mine", "rule:mine"):
                incident = await make_incident(brand=brand, severity="SEV3", rule=rule)
                resp = await responder.post(
                    f"/v1/incidents/{incident}/dismiss", json={"reason": f"campaign {rule}"}
                )
                assert resp.status_code == 200, resp.text
            assert (await responder.get(f"{url}/proposals")).json() == []
            metrics = (await admin.get("/metrics")).text
            assert _dismissed(metrics, "volume_spike") == before + 2
            assert _dismissed(metrics, "rule:mine") >= 3

            incident = await make_incident(brand=brand, severity="SEV3", rule="volume_spike")
            resp = await responder.post(
                f"/v1/incidents/{incident}/dismiss", json={"reason": "a TV ad, expected"}
            )
            assert resp.status_code == 200, resp.text
            proposals = (await responder.get(f"{url}/proposals")).json()
            assert len(proposals) == 1, proposals
            proposal = proposals[0]
            assert (proposal["rule"], proposal["dismissals"]) == ("volume_spike", 3)
            assert (proposal["current_preset"], proposal["proposed_preset"]) == (
                "balanced",
                "strict",
            )
            assert proposal["reasons"][0] == "a TV ad, expected"

            body = {"rule": "volume_spike"}
            assert (await responder.post(f"{url}/proposals/apply", json=body)).status_code == 403
            resp = await admin.post(f"{url}/proposals/apply", json={"rule": "rule:mine"})
            assert resp.status_code == 409, resp.text
            resp = await admin.post(f"{url}/proposals/apply", json=body)
            assert resp.status_code == 200, resp.text
            assert resp.json()["preset"] == "strict"
            # Applied: nothing left to propose, and the running worker takes the preset up.
            assert (await responder.get(f"{url}/proposals")).json() == []
            assert await wait_for(lambda: _sample(workers, "strict"), bool, interval_s=0.05)
            audit = await _rows(
                db_engine,
                select(AuditLogRow.action, AuditLogRow.details).where(
                    AuditLogRow.target == f"brand:{brand}"
                ),
            )
            assert [a for a, _ in audit] == ["brand_settings.proposal_apply"]
            assert audit[0][1]["because"]["dismissals"] == 3
            assert audit[0][1]["after"]["preset"] == "strict"
        finally:
            await admin.delete(f"{url}/settings")


def _latest_rise(now: datetime) -> datetime:
    """The latest 14:15 UTC whose 24 minutes of rise are over by `now`."""
    rise = now.replace(hour=14, minute=15, second=0, microsecond=0)
    return rise if rise + timedelta(minutes=25) <= now else rise - timedelta(days=1)


async def test_api_presets_change_what_the_running_worker_detects(
    api: RunningApi,
    settings_factory: Any,
    producer: EventProducer,
    db_engine: Any,
    unique: str,
) -> None:
    """Two brands with the same history and the same mild rise (3 -> 15 per minute on an
    average hour of the population's day): the one set to `sensitive` through the API opens
    a volume-spike incident, the `strict` one stays quiet. The rise is at 14:15 UTC (the
    latest one past), so the verdict does not hang on the hour the test runs at: a young
    brand is judged against the population's day, which makes a given rise more or less
    surprising by the hour."""
    alerting = RunningAlerting(
        settings_factory(
            AlertingSettings,
            alerting_rules_poll_s=POLL_S,
            alerting_checkpoint_s=0.5,
            alerting_idle_flush_s=3.0,
        )
    )
    keen, calm = f"keen-{unique}", f"calm-{unique}"
    calm_minutes = CALM_HOURS * 60
    start = _latest_rise(datetime.now(UTC)) - timedelta(minutes=calm_minutes)
    items = []
    for brand in (keen, calm):  # the same seeds: the same counts for both brands
        items += day_shaped_mentions(
            Stream(brand), start, calm_minutes + 24, lambda m: 3.0 if m < calm_minutes else 15.0
        )
    alerting.start()
    async with api.client("admin") as admin:
        try:
            for brand, name in ((keen, "sensitive"), (calm, "strict")):
                resp = await admin.put(f"/v1/brands/{brand}/settings", json={"preset": name})
                assert resp.status_code == 201, resp.text
            for name in ("sensitive", "strict"):
                loaded = await wait_for(
                    lambda n=name: _sample(alerting.registry, n), bool, interval_s=0.05
                )
                assert loaded, f"the worker did not load the {name} preset"
            await publish(db_engine, producer, alerting.settings.topic_scored, items)
            found = await wait_for(lambda: incidents(db_engine, keen), bool, timeout_s=120)
            assert [i.rule for i in found] == ["volume_spike"]
            last = max(i.mention.created_at for i in items if i.mention.brands == [calm])
            await processed_until(db_engine, calm, last)
            assert await incidents(db_engine, calm) == []
        finally:
            await admin.delete(f"/v1/brands/{keen}/settings")
            await admin.delete(f"/v1/brands/{calm}/settings")
            await alerting.shutdown()
