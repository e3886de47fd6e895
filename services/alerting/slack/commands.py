"""The `/crisiswatch <brand>` slash command: a brand's open incidents and its last 24 hours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.incidents import work
from services.alerting.incidents.schemas import IncidentRead
from services.alerting.notify.content import escape_slack, one_line
from shared.db.models import HourlyRollupRow
from shared.db.rollups import ALL_DIMENSIONS

USAGE = "Usage: `/crisiswatch <brand>`: the brand's open incidents and its last 24 hours."
_OPEN = ("open", "acknowledged", "snoozed")


@dataclass(frozen=True, slots=True)
class DaySentiment:
    """A brand's mentions and sentiment over the last 24 hours."""

    volume: int
    negative: int
    neutral: int
    positive: int
    mean: float | None  # mean sentiment score of the scored mentions, -1..1


async def day_sentiment(session: AsyncSession, brand: str, *, now: datetime) -> DaySentiment:
    """Sum the hourly rollups (all platforms and languages) of the 24 hours before `now`."""
    r = HourlyRollupRow
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(r.volume), 0),
                func.coalesce(func.sum(r.negative), 0),
                func.coalesce(func.sum(r.neutral), 0),
                func.coalesce(func.sum(r.positive), 0),
                func.coalesce(func.sum(r.sentiment_sum), 0.0),
            ).where(
                r.brand == brand,
                r.topic == "",
                r.platform == ALL_DIMENSIONS,
                r.language == ALL_DIMENSIONS,
                r.hour > now - timedelta(hours=24),
                r.hour <= now,
            )
        )
    ).one()
    volume, negative, neutral, positive = (int(v) for v in row[:4])
    total = float(row[4])
    scored = negative + neutral + positive
    return DaySentiment(volume, negative, neutral, positive, total / scored if scored else None)


def command_message(brand: str, incidents: list[IncidentRead], day: DaySentiment) -> dict[str, Any]:
    """The ephemeral answer to `/crisiswatch <brand>` (pure)."""
    b = escape_slack(one_line(brand, 64))
    mean = f"{day.mean:+.2f}" if day.mean is not None else "n/a"
    share = f"{100 * day.negative / day.volume:.0f}%" if day.volume else "n/a"
    summary = (
        f"*{b}, last 24 h*: {day.volume} mentions, {share} negative "
        f"({day.negative} neg / {day.neutral} neu / {day.positive} pos), mean sentiment {mean}"
    )
    if incidents:
        lines = [
            f"• #{i.id} [{escape_slack(i.severity)}] {escape_slack(one_line(i.title, 120))}"
            f" ({escape_slack(i.status)}"
            + (f", owner {escape_slack(i.owner)}" if i.owner else "")
            + ")"
            for i in incidents[:20]
        ]
        listing = f"*Open incidents ({len(incidents)})*\n" + "\n".join(lines)
    else:
        listing = "*Open incidents*: none"
    return {
        "response_type": "ephemeral",
        "text": f"{b}: {len(incidents)} open incident(s), {day.volume} mentions in 24 h",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {"type": "section", "text": {"type": "mrkdwn", "text": listing}},
        ],
    }


async def answer_command(session: AsyncSession, form: Mapping[str, str]) -> dict[str, Any]:
    """Answer one slash command request (form fields `command`, `text`, ...)."""
    brand = (form.get("text") or "").strip()
    if not brand or brand.lower() == "help" or len(brand) > 64:
        return {"response_type": "ephemeral", "text": USAGE}
    page = await work.list_incidents(session, statuses=_OPEN, brand=brand, limit=50)
    day = await day_sentiment(session, brand, now=datetime.now(UTC))
    return command_message(brand, page.items, day)
