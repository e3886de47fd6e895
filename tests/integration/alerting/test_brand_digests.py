"""Brand digests end to end: figures from PostgreSQL, claimed once, delivered to Slack and SMTP.

Two housekeepers (two engines, as two replicas) tick at the same time: one digest row, one
Slack message, one email. A disabled schedule sends nothing; `crisiswatch digest send`
refuses a period already sent and previews write the HTML with its charts inline.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.digests.cli import DigestRequest, preview_html, send_now
from services.alerting.digests.periods import Period, buckets, due_period
from services.alerting.notify.channels import build_notifiers
from services.alerting.notify.housekeeping import NotificationHousekeeper
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics
from services.alerting.room.tokens import read
from services.cli import main as cli_main
from shared.db.config_models import WatchlistRow
from shared.db.engine import create_engine, transaction
from shared.db.models import (
    DigestRow,
    HourlyRollupRow,
    IncidentRow,
    MentionRow,
    OutboxRow,
    StoryRow,
)
from shared.db.rollups import ALL_DIMENSIONS
from shared.settings.common import CommonSettings
from shared.settings.infra import InfraSettings
from shared.settings.links import DEV_ROOM_SECRET
from shared.settings.notify import NotifySettings
from tests.kafka_helpers import wait_for
from tests.notify_fakes import FakeHttp, SmtpServer, channel_id, notify_settings

PARIS = ZoneInfo("Europe/Paris")


@dataclass
class Seeded:
    brand: str
    rival: str
    period: Period
    open_id: int
    resolved_id: int
    dismissed_id: int


def _settings(slack: FakeHttp, smtp: SmtpServer, brand: str, **values: Any) -> NotifySettings:
    defaults: dict[str, Any] = {
        "slack_bot_token": "xoxb-test",
        "slack_channel": "#crisis",
        "slack_api_base": slack.url,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_starttls": False,
        "smtp_from": "alerts@crisiswatch.local",
        "smtp_to": ["pr@brand.local"],
        "brand_digest_enabled": True,
        "brand_digest_periods": ["daily"],
        "brand_digest_hour": 0,
        "brand_digest_timezone": "Europe/Paris",
        "brand_digest_brands": [brand],
        "brand_digest_slack_channel": "#brand-health",
        "brand_digest_recipients": {brand: {"email_to": ["board@brand.local"]}},
    }
    return notify_settings(**{**defaults, **values})


def _rollup(brand: str, hour: datetime, volume: int, negative: int) -> HourlyRollupRow:
    neutral = (volume - negative) // 2
    return HourlyRollupRow(
        brand=brand,
        hour=hour,
        topic="",
        platform=ALL_DIMENSIONS,
        language=ALL_DIMENSIONS,
        volume=volume,
        negative=negative,
        neutral=neutral,
        positive=volume - negative - neutral,
    )


def _incident(brand: str, at: datetime, **values: Any) -> IncidentRow:
    return IncidentRow(
        brand=brand,
        topic=values.pop("topic", ""),
        category="safety",
        rule="test_rule",
        severity=values.pop("severity", "SEV3"),
        title=values.pop("title", "Battery fires"),
        opened_at=at,
        signal_count=1,
        scope={},
        reasons=[],
        details={},
        **values,
    )


@pytest.fixture
async def seeded(db_engine: AsyncEngine, unique: str) -> AsyncIterator[Seeded]:
    """A brand with a day of figures (and the day before), incidents, a story, keywords."""
    brand, rival = f"digest-{unique}", f"rival-{unique}"
    period = due_period("daily", datetime.now(UTC), zone=PARIS, hour=0, weekday="monday")
    at = period.start + timedelta(hours=10)
    async with transaction(db_engine) as session:
        session.add(WatchlistRow(brand=brand, definition={"brand": brand, "competitors": [rival]}))
        for hour in buckets(period):
            session.add(_rollup(brand, hour, 12, 6))
            session.add(_rollup(rival, hour, 4, 1))
        for hour in buckets(period.previous()):
            session.add(_rollup(brand, hour, 6, 1))
        opened = _incident(
            brand, at, severity="SEV2", owner="alice", title="Exploding <b>batteries</b>"
        )
        resolved = _incident(
            brand, at - timedelta(days=2), topic="t1", status="resolved", resolved_at=at
        )
        dismissed = _incident(
            brand,
            at,
            topic="t2",
            status="resolved",
            resolved_at=at,
            dismissed_at=at,
            dismissal_reason="a parody account",
        )
        session.add_all([opened, resolved, dismissed])
        session.add(
            StoryRow(
                id=f"story-{unique}",
                brand=brand,
                label="Battery recall",
                top_phrases=["battery fire"],
                first_seen=at,
                last_seen=at,
                volume=42,
                negative=30,
            )
        )
        # The brand's background (its ordinary talk) is bigger, and never a story to report.
        session.add(
            StoryRow(
                id=f"chatter-{unique}",
                brand=brand,
                label="Ordinary chatter",
                first_seen=at,
                last_seen=at,
                volume=400,
                negative=20,
                background=True,
            )
        )
        for n in range(3):
            session.add(_mention(brand, f"{unique}-{n}", at, ["battery fire", f"k{n}"]))
        await session.flush()
        ids = (opened.id, resolved.id, dismissed.id)
    yield Seeded(brand, rival, period, *ids)
    async with transaction(db_engine) as session:
        await session.execute(delete(WatchlistRow).where(WatchlistRow.brand == brand))
        await session.execute(
            delete(HourlyRollupRow).where(HourlyRollupRow.brand.in_([brand, rival]))
        )
        await session.execute(delete(IncidentRow).where(IncidentRow.brand == brand))
        await session.execute(delete(StoryRow).where(StoryRow.brand == brand))
        await session.execute(delete(MentionRow).where(MentionRow.brand == brand))
        digest_ids = select(DigestRow.id).where(DigestRow.brand == brand)
        for digest_id in (await session.scalars(digest_ids)).all():
            await session.execute(
                delete(OutboxRow).where(
                    OutboxRow.dedupe_key.startswith(f"brand-digest:{digest_id}:")
                )
            )
        await session.execute(delete(DigestRow).where(DigestRow.brand == brand))


def _mention(brand: str, key: str, at: datetime, keywords: list[str]) -> MentionRow:
    return MentionRow(
        platform="test",
        external_id=key,
        brand=brand,
        brands=[brand],
        author_id=f"a_{key}",
        text="my battery caught fire",
        created_at=at,
        ingested_at=at,
        scored_at=at,
        language="en",
        language_confidence=1.0,
        keywords=keywords,
    )


async def _digests(engine: AsyncEngine, brand: str) -> list[DigestRow]:
    async with transaction(engine) as session:
        found = await session.scalars(select(DigestRow).where(DigestRow.brand == brand))
        return list(found.all())


async def _deliver(engine: AsyncEngine, settings: NotifySettings, digest_id: int) -> None:
    dispatcher = OutboxDispatcher.from_settings(
        settings,
        engine=engine,
        notifiers=build_notifiers(settings),
        metrics=OutboxMetrics(CollectorRegistry()),
    )
    await dispatcher.start()

    async def settled() -> set[str]:
        await dispatcher.dispatch_once()
        async with transaction(engine) as session:
            statuses = await session.scalars(
                select(OutboxRow.status).where(
                    OutboxRow.dedupe_key.startswith(f"brand-digest:{digest_id}:")
                )
            )
            return set(statuses.all())

    try:
        assert await wait_for(settled, lambda s: s == {"sent"}, timeout_s=30) == {"sent"}
    finally:
        await dispatcher.stop()


def _slack_digests(slack: FakeHttp, brand: str) -> list[dict[str, Any]]:
    posts = [r.json() for r in slack.delivered() if r.path.endswith("/chat.postMessage")]
    return [p for p in posts if p["text"].startswith(f"{brand} daily digest")]


async def test_racing_schedulers_send_one_digest_with_its_figures(
    db_engine: AsyncEngine,
    infra: InfraSettings,
    test_database: str,
    seeded: Seeded,
    slack_api: FakeHttp,
    smtp_server: SmtpServer,
) -> None:
    settings = _settings(slack_api, smtp_server, seeded.brand)
    replica = create_engine(infra, database=test_database)
    try:
        first = NotificationHousekeeper(engine=db_engine, settings=settings)
        second = NotificationHousekeeper(engine=replica, settings=settings)
        await asyncio.gather(first.tick(digest=False), second.tick(digest=False))
        await asyncio.gather(first.tick(digest=False), second.tick(digest=False))
    finally:
        await replica.dispose()
    rows = await _digests(db_engine, seeded.brand)
    assert len(rows) == 1
    digest = rows[0]
    assert digest.period == "daily" and digest.period_start == seeded.period.start
    assert digest.claimed_by in (first.scheduler_id, second.scheduler_id)
    assert sorted(digest.channels) == ["email", "slack"]
    assert digest.summary["volume"] == 12 * len(buckets(seeded.period))
    await _deliver(db_engine, settings, digest.id)

    posts = _slack_digests(slack_api, seeded.brand)
    assert len(posts) == 1
    post = posts[0]
    assert channel_id(post["channel"]) == channel_id("#brand-health")
    blocks = json.dumps(post["blocks"], ensure_ascii=False)
    assert "+100% vs previous period" in blocks  # 12 an hour against 6
    # Opened in the period: the open one and the dismissed one (the resolved one is older).
    assert "2 opened, 1 resolved, 1 dismissed" in blocks
    assert "alice" in blocks and "Battery recall: 42 mentions, 71% negative" in blocks
    assert "Ordinary chatter" not in blocks
    assert "battery fire (3)" in blocks
    assert f"{seeded.brand} 75%, {seeded.rival} 25%" in blocks

    mails = [m for m in smtp_server.inbox.messages if seeded.brand in str(m["Subject"])]
    assert len(mails) == 1
    mail = mails[0]
    assert mail["To"] == "board@brand.local"
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 5  # volume, sentiment, share of voice, stories, incidents
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    page = html_part.get_content()
    assert "a parody account" in page and "&lt;b&gt;batteries" in page
    link = next(
        url
        for url in _links(page)
        if urlsplit(url).path == f"/incidents/{seeded.open_id}" and "t=" in url
    )
    token = parse_qs(urlsplit(link).query)["t"][0]
    claims = read(DEV_ROOM_SECRET.encode(), token, kind="link", now=time.time())
    assert claims is not None and claims.scope == str(seeded.open_id)

    # The next day's tick is another period; this one is never sent again.
    later = NotificationHousekeeper(engine=db_engine, settings=settings)
    await later.tick(digest=False)
    assert len(await _digests(db_engine, seeded.brand)) == 1


def _links(page: str) -> list[str]:
    return [u.replace("&amp;", "&") for u in re.findall(r'href="([^"]+)"', page)]


async def test_disabled_schedule_sends_nothing(
    db_engine: AsyncEngine, seeded: Seeded, slack_api: FakeHttp, smtp_server: SmtpServer
) -> None:
    off = _settings(slack_api, smtp_server, seeded.brand, brand_digest_enabled=False)
    await NotificationHousekeeper(engine=db_engine, settings=off).tick(digest=False)
    no_period = _settings(slack_api, smtp_server, seeded.brand, brand_digest_periods=[])
    await NotificationHousekeeper(engine=db_engine, settings=no_period).tick(digest=False)
    assert await _digests(db_engine, seeded.brand) == []


async def test_cli_sends_now_once_and_previews(
    db_engine: AsyncEngine,
    settings_factory: Callable[..., Any],
    seeded: Seeded,
    slack_api: FakeHttp,
    smtp_server: SmtpServer,
) -> None:
    common = settings_factory(CommonSettings)
    settings = _settings(slack_api, smtp_server, seeded.brand, brand_digest_enabled=False)
    request = DigestRequest("send", seeded.brand, "day")
    sent = await send_now(common, settings, request, timeout_s=30)
    assert sent["sent"] is True and sent["channels"] == {"slack": "sent", "email": "sent"}
    assert len(_slack_digests(slack_api, seeded.brand)) == 1
    again = await send_now(common, settings, request, timeout_s=30)
    assert again == {**again, "sent": False, "reason": "already sent for this period"}
    assert len(_slack_digests(slack_api, seeded.brand)) == 1
    (row,) = await _digests(db_engine, seeded.brand)
    assert row.claimed_by == "cli"

    page = await preview_html(common, settings, DigestRequest("preview", seeded.brand, "daily"))
    assert page.count('src="data:image/png;base64,') == 5
    assert "Battery recall" in page and f"{seeded.rival}: 96 mentions" in page


def test_cli_preview_writes_the_html_file(
    seeded: Seeded,
    test_database: str,
    infra: InfraSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CRISISWATCH_PG_DATABASE", test_database)
    monkeypatch.setenv("CRISISWATCH_BRAND_DIGEST_TIMEZONE", "Europe/Paris")
    out = tmp_path / "digest.html"
    argv = ["digest", "--brand", seeded.brand, "--period", "day", "--out", str(out)]
    assert cli_main(argv) == 0
    assert str(out) in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 5
    assert f"<h1>{seeded.brand} daily digest" in page
    assert cli_main(["digest", "--brand", seeded.brand, "--period", "monthly"]) == 2
