"""Incident lifecycle, playbook steps, rules/campaign/watchlist CRUD, limits, privacy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.ingest.core.normalize import pseudonymize
from shared.db.config_models import AuditLogRow
from shared.db.engine import transaction
from shared.db.models import (
    IncidentEventRow,
    IncidentRow,
    MentionRow,
    PlaybookRunRow,
    PlaybookStepRow,
    RollupRow,
    SignalRow,
)
from shared.settings.ingest import DEV_PSEUDONYM_SECRET
from tests.integration.api.conftest import RunningApi
from tests.integration.api.factories import scored, store


async def _open(session, brand: str, details: dict | None = None) -> int:
    row = IncidentRow(
        brand=brand,
        topic="",
        rule="negative_burst",
        title=f"{brand} burst",
        severity="SEV2",
        status="open",
        peak_score=5.0,
        scope={},
        reasons=[],
        details=details or {},
    )
    session.add(row)
    await session.flush()
    session.add(IncidentEventRow(incident_id=row.id, kind="opened", actor="system", data={}))
    await session.flush()
    return int(row.id)


async def _incident(db_engine, brand: str) -> tuple[int, int]:
    async with transaction(db_engine) as session:
        incident_id = await _open(session, brand)
        run = PlaybookRunRow(incident_id=incident_id, playbook="generic")
        session.add(run)
        await session.flush()
        step = PlaybookStepRow(
            run_id=run.id,
            position=1,
            title="Draft holding statement",
            owner_role="comms",
            due_at=datetime.now(UTC) + timedelta(hours=1),
        )
        session.add(step)
        await session.flush()
        return incident_id, step.id


async def test_incident_lifecycle(api: RunningApi, db_engine, unique) -> None:
    brand = f"acme-{unique}"
    now = datetime.now(UTC)
    await store(db_engine, [scored(brand=brand, external_id="s1", created_at=now, reach=900)])
    incident_id, step_id = await _incident(db_engine, brand)
    base = f"/v1/incidents/{incident_id}"
    async with api.client("responder") as c:
        listed = (await c.get("/v1/incidents", params={"brand": brand, "status": "open"})).json()
        assert [i["id"] for i in listed["items"]] == [incident_id]
        assert (await c.put(f"{base}/review", json={"summary": "x"})).status_code == 409
        assert (await c.post(f"{base}/acknowledge")).json()["status"] == "acknowledged"
        assert (await c.post(f"{base}/acknowledge")).status_code == 409
        assigned = await c.post(f"{base}/assign", json={"owner": "maria"})
        assert assigned.json()["owner"] == "maria"
        note = await c.post(f"{base}/notes", json={"text": "statement drafted"})
        assert note.status_code == 201
        snoozed = (await c.post(f"{base}/snooze", json={"minutes": 30})).json()
        assert snoozed["status"] == "snoozed" and snoozed["snoozed_until"]
        step = await c.patch(f"/v1/playbook-steps/{step_id}", json={"status": "done"})
        assert step.status_code == 200 and step.json()["status"] == "done"
        again = await c.patch(f"/v1/playbook-steps/{step_id}", json={"status": "pending"})
        assert again.status_code == 409
        runs = (await c.get("/v1/playbook-runs", params={"incident_id": incident_id})).json()
        assert runs[0]["steps"][0]["status"] == "done"
        assert (await c.post(f"{base}/resolve", json={"resolution": "ok"})).status_code == 200
        assert (await c.post(f"{base}/resolve", json={})).status_code == 409
        assert (await c.post(f"{base}/snooze", json={"minutes": 5})).status_code == 409
        review = await c.put(
            f"{base}/review", json={"summary": "faulty batch", "actions": ["QA gate"]}
        )
        assert review.status_code == 200, review.text
        detail = (await c.get(base)).json()
        kinds = [e["kind"] for e in detail["timeline"]]
        assert kinds == [
            "opened",
            "acknowledge",
            "assign",
            "note",
            "snooze",
            "playbook_step",
            "resolve",
            "review",
        ]
        assert detail["review"]["summary"] == "faulty batch"
        assert len(detail["samples"]) == 1 and detail["samples"][0]["author_id"].startswith("a_")
        assert (await c.get("/v1/incidents/999999999")).status_code == 404
        books = (await c.get("/v1/playbooks")).json()
        assert "generic" in {b["name"] for b in books}
    async with db_engine.connect() as conn:
        actions = (
            (
                await conn.execute(
                    select(AuditLogRow.action).where(
                        AuditLogRow.target == f"incident:{incident_id}"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert {"incident.acknowledge", "incident.resolve", "incident.review"} <= set(actions)


async def test_rules_campaigns_watchlists_crud(api: RunningApi, db_engine, unique) -> None:
    brand = f"acme-{unique}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # Inside one 15-minute window (windows are aligned on the quarter hour).
    quarter = now.replace(minute=now.minute - now.minute % 15) - timedelta(hours=2)
    burst = [
        scored(
            brand=brand, external_id=f"n{i}", created_at=quarter + timedelta(minutes=5, seconds=i)
        )
        for i in range(12)
    ]
    calm = [
        scored(
            brand=brand,
            external_id=f"c{i}",
            label="positive",
            created_at=now - timedelta(days=2, minutes=i * 20),
        )
        for i in range(6)
    ]
    await store(db_engine, burst + calm)
    rule = {
        "name": f"neg-{unique}",
        "brand": brand,
        "definition": {"metric": "negative", "window_minutes": 15, "threshold": 10},
    }
    async with api.client("admin") as a:
        created = await a.post("/v1/rules", json=rule)
        assert created.status_code == 201, created.text
        rule_id = created.json()["id"]
        assert (await a.post("/v1/rules", json=rule)).status_code == 409
        dry = (await a.post(f"/v1/rules/{rule_id}/validate")).json()
        assert len(dry["firings"]) == 1 and dry["firings"][0]["value"] == 12
        ratio = (
            await a.post(
                "/v1/rules/validate",
                json={
                    "brand": brand,
                    "definition": {
                        "metric": "negative_ratio",
                        "threshold": 0.5,
                        "window_minutes": 60,
                    },
                },
            )
        ).json()
        assert len(ratio["firings"]) == 1 and ratio["windows_checked"] >= 2
        updated = await a.put(f"/v1/rules/{rule_id}", json={**rule, "enabled": False})
        assert updated.json()["enabled"] is False
        bad = await a.post("/v1/rules", json={**rule, "definition": {"metric": "nope"}})
        assert bad.status_code == 422
        assert (await a.delete(f"/v1/rules/{rule_id}")).status_code == 204
        assert (await a.get(f"/v1/rules/{rule_id}")).status_code == 404

        camp = {
            "brand": brand,
            "name": "launch",
            "starts_at": "2026-12-01T00:00:00Z",
            "ends_at": "2026-12-03T00:00:00Z",
            "expected_lift": 4,
        }
        made = await a.post("/v1/campaigns", json=camp)
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        backwards = {**camp, "ends_at": "2026-11-01T00:00:00Z"}
        assert (await a.post("/v1/campaigns", json=backwards)).status_code == 422
        listed = (await a.get("/v1/campaigns", params={"brand": brand})).json()
        assert [c["id"] for c in listed] == [cid]
        moved = await a.put(f"/v1/campaigns/{cid}", json={**camp, "name": "launch v2"})
        assert moved.json()["name"] == "launch v2"
        assert (await a.delete(f"/v1/campaigns/{cid}")).status_code == 204

        wl = {"brand": brand, "aliases": ["Acme"], "competitors": ["globex"]}
        assert (await a.post("/v1/watchlists/validate", json=wl)).status_code == 200
        invalid = await a.post("/v1/watchlists/validate", json={**wl, "markets": ["germany"]})
        assert invalid.status_code == 422
        assert (await a.put(f"/v1/watchlists/{brand}", json=wl)).status_code == 201
        assert (await a.put(f"/v1/watchlists/{brand}", json=wl)).status_code == 200
        mismatch = await a.put(f"/v1/watchlists/{brand}", json={**wl, "brand": "other"})
        assert mismatch.status_code == 422
        assert (await a.get(f"/v1/watchlists/{brand}")).json()["definition"]["aliases"] == ["Acme"]
        assert (await a.delete(f"/v1/watchlists/{brand}")).status_code == 204
        assert (await a.get(f"/v1/watchlists/{brand}")).status_code == 404
        audit = (await a.get("/v1/audit-log", params={"target": f"watchlist:{brand}"})).json()
        assert [e["action"] for e in audit] == [
            "watchlist.delete",
            "watchlist.update",
            "watchlist.create",
        ]


@pytest.mark.parametrize("api_overrides", [{"api_max_body_bytes": 2048}])
async def test_body_size_limit(api: RunningApi) -> None:
    async with api.client("admin") as a:
        big = {
            "brand": "x",
            "name": "n" * 5000,
            "starts_at": "2026-12-01T00:00:00Z",
            "ends_at": "2026-12-02T00:00:00Z",
        }
        resp = await a.post("/v1/campaigns", json=big)
        assert resp.status_code == 413 and "exceeds" in resp.json()["detail"]

        async def chunks():
            for _ in range(10):
                yield b" " * 1000

        streamed = await a.post(
            "/v1/rules/validate", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413


@pytest.mark.parametrize("api_overrides", [{"api_rate_burst": 3, "api_rate_per_s": 0.01}])
async def test_rate_limit_429(api: RunningApi) -> None:
    async with api.client("viewer") as c:
        statuses = [
            (await c.get("/v1/mentions", params={"limit": 1})).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = await c.get("/v1/mentions")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    async with api.client("admin") as other:  # buckets are per key
        assert (await other.get("/v1/mentions")).status_code == 200


async def test_retention_and_erasure(api: RunningApi, db_engine, unique) -> None:
    brand = f"acme-{unique}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    old = now - timedelta(days=400)
    items = [
        scored(brand=brand, external_id="old", created_at=old, author="ancient"),
        scored(brand=brand, external_id="e1", created_at=now, author="erase-me", label="negative"),
        scored(
            brand=brand,
            external_id="e2",
            created_at=now + timedelta(seconds=5),
            author="erase-me",
            label="negative",
            topics=["safety"],
        ),
        scored(
            brand=brand,
            external_id="k1",
            created_at=now + timedelta(seconds=9),
            author="keeper",
            label="positive",
            topics=["safety"],
        ),
    ]
    await store(db_engine, items)
    pid = pseudonymize("x", "erase-me", DEV_PSEUDONYM_SECRET.encode())
    async with transaction(db_engine) as session:
        incident_id = await _open(
            session,
            brand,
            {"samples": [{"author": pid, "text": "x"}, {"author": "a_other", "text": "y"}]},
        )
        session.add(
            SignalRow(
                brand=brand,
                rule="negative_burst",
                at=now,
                score=3.0,
                value=2.0,
                incident_id=incident_id,
                details={"authors": [pid, "a_other"]},
            )
        )
    async with api.client("admin") as a:
        purge = (await a.post("/v1/privacy/purge")).json()
        assert purge["mentions_deleted"] >= 1
        resp = await a.post("/v1/privacy/erasure", json={"author": "erase-me", "platform": "x"})
        assert resp.status_code == 200, resp.text
        report = resp.json()
        assert report["author_id"] == pid and report["mentions_deleted"] == 2
        assert report["rollup_keys_rebuilt"] == 1
        assert report["signals_scrubbed"] == 1 and report["incidents_scrubbed"] == 1
        again = (await a.post("/v1/privacy/erasure", json={"author": pid})).json()
        assert again["mentions_deleted"] == 0
        assert (await a.post("/v1/privacy/erasure", json={"author": "raw"})).status_code == 422
    async with db_engine.connect() as conn:
        left = (
            await conn.execute(
                select(MentionRow.external_id, MentionRow.author_id).where(
                    MentionRow.brand == brand
                )
            )
        ).all()
        assert [e.split("@")[0] for e, _ in left] == ["k1"]
        rollups = {
            r.topic: (r.volume, r.negative, r.positive, r.distinct_authors)
            for r in (
                await conn.execute(
                    select(
                        RollupRow.topic,
                        RollupRow.volume,
                        RollupRow.negative,
                        RollupRow.positive,
                        RollupRow.distinct_authors,
                    ).where(RollupRow.brand == brand, RollupRow.minute == now)
                )
            ).all()
        }
        assert rollups == {"": (1, 0, 1, 1), "safety": (1, 0, 1, 1)}
        old_rollup = await conn.scalar(
            select(func.sum(RollupRow.volume)).where(
                RollupRow.brand == brand, RollupRow.minute == old
            )
        )
        assert old_rollup == 1  # retention keeps the aggregates
        details = await conn.scalar(
            select(IncidentRow.details).where(IncidentRow.id == incident_id)
        )
        assert details["samples"] == [{"author": "a_other", "text": "y"}]
        signal = await conn.scalar(
            select(SignalRow.details).where(SignalRow.incident_id == incident_id)
        )
        assert pid not in str(signal)
        actions = (
            (await conn.execute(select(AuditLogRow.action).where(AuditLogRow.target == pid)))
            .scalars()
            .all()
        )
        assert "privacy.erase" in actions
