"""Holding statements reach people: Slack, email, webhook and the API carry their text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.playbooks.loader import default_playbooks
from shared.db.config_models import WatchlistRow
from tests.integration.api.conftest import RunningApi
from tests.integration.api.factories import scored, store
from tests.integration.api.notify_helpers import (
    all_sent,
    channels_settings,
    dispatching,
    open_incident,
)
from tests.notify_fakes import FakeHttp, SmtpServer

SAFETY = default_playbooks()["safety"]


@pytest.fixture(autouse=True)
async def _forget_stored_watchlists(db_engine: AsyncEngine) -> AsyncIterator[None]:
    """A stored watchlist restricts every later push in the session's database: remove ours."""
    yield
    async with db_engine.begin() as conn:
        await conn.execute(delete(WatchlistRow).where(WatchlistRow.brand.like("kettle-%")))


def _watchlist(brand: str, languages: list[str]) -> dict[str, Any]:
    return {"brand": brand, "display_name": "Kettle Co", "aliases": [], "languages": languages}


def _sections(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]


async def test_first_notification_quotes_the_brands_first_language(
    api: RunningApi,
    db_engine: AsyncEngine,
    unique: str,
    slack_webhook: FakeHttp,
    smtp_server: SmtpServer,
    webhook_receiver: FakeHttp,
) -> None:
    brand = f"kettle-{unique}"
    async with api.client("admin") as admin:
        put = await admin.put(f"/v1/watchlists/{brand}", json=_watchlist(brand, ["es", "en"]))
        assert put.status_code == 201, put.text
    settings = channels_settings(slack_webhook, smtp_server, webhook_receiver)
    incident_id = await open_incident(db_engine, settings, brand=brand, category="safety")
    spanish = SAFETY.holding_statement("es", brand="Kettle Co")
    english = SAFETY.holding_statement("en", brand="Kettle Co")
    async with dispatching(db_engine, settings):
        await all_sent(db_engine, incident_id, 3)

    link = f"/incidents/{incident_id}?t="
    slack = [r.json() for r in slack_webhook.delivered() if link in r.body.decode()]
    assert len(slack) == 1
    quoted = [t for t in _sections(slack[0]) if t.startswith("*Holding statement")]
    # Only the brand's first language is quoted (no mentions yet); the others are listed.
    assert quoted == [f"*Holding statement (es)*\n> {spanish}"]
    context = str([b for b in slack[0]["blocks"] if b["type"] == "context"])
    assert "also in de, en, fr, ja, zh" in context and "#statements|all statements>" in context

    mails = [m for m in smtp_server.inbox.messages if link in m.get_body(("plain",)).get_content()]
    assert len(mails) == 1
    text = mails[0].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert f"Holding statement (es):\n{spanish}" in text and english not in text
    assert "Holding statement (es)" in mails[0].get_body(("html",)).get_content()

    hooks = [r.json() for r in webhook_receiver.delivered() if link in r.body.decode()]
    statements = hooks[0]["holding_statements"]
    assert statements[0] == {"language": "es", "text": spanish, "main": True}
    assert {s["language"] for s in statements} == set(SAFETY.holding_statements)

    async with api.client("responder") as client:
        got = (await client.get(f"/v1/incidents/{incident_id}/holding-statements")).json()
        detail = (await client.get(f"/v1/incidents/{incident_id}")).json()
        missing = await client.get("/v1/incidents/999999999/holding-statements")
    assert got[0] == {"language": "es", "text": spanish, "main": True}
    assert [s["main"] for s in got].count(True) == 1
    assert detail["holding_statements"] == got
    assert missing.status_code == 404


async def test_the_incidents_own_language_is_quoted_too(
    api: RunningApi,
    db_engine: AsyncEngine,
    unique: str,
    slack_webhook: FakeHttp,
    smtp_server: SmtpServer,
    webhook_receiver: FakeHttp,
) -> None:
    brand = f"kettle-{unique}"
    async with api.client("admin") as admin:
        put = await admin.put(f"/v1/watchlists/{brand}", json=_watchlist(brand, ["en"]))
        assert put.status_code == 201, put.text
    now = datetime.now(UTC)
    # Most negative mentions of the story are German: German is a main language too.
    await store(
        db_engine,
        [
            scored(
                brand=brand,
                external_id=f"m{i}",
                created_at=now - timedelta(minutes=i),
                language="de" if i % 4 else "en",
                author=f"user{i}",
            )
            for i in range(12)
        ],
    )
    settings = channels_settings(slack_webhook, smtp_server, webhook_receiver)
    incident_id = await open_incident(db_engine, settings, brand=brand, category="safety")
    async with dispatching(db_engine, settings):
        await all_sent(db_engine, incident_id, 3)
    link = f"/incidents/{incident_id}?t="
    slack = next(r.json() for r in slack_webhook.delivered() if link in r.body.decode())
    quoted = [t.split("\n")[0] for t in _sections(slack) if t.startswith("*Holding statement")]
    assert quoted == ["*Holding statement (en)*", "*Holding statement (de)*"]


async def test_playbooks_api_returns_the_statements_text(api: RunningApi) -> None:
    async with api.client("responder") as client:
        books = (await client.get("/v1/playbooks")).json()
        one = await client.get("/v1/playbooks/safety")
        unknown = await client.get("/v1/playbooks/nope")
        too_long = await client.get("/v1/playbooks/" + "x" * 65)
    safety = next(b for b in books if b["name"] == "safety")
    assert safety["holding_statements"] == SAFETY.holding_statements
    assert 3 <= len(safety["holding_statements"]) <= 6
    assert one.status_code == 200 and one.json() == safety
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    assert too_long.status_code == 422
