"""Campaign calendar: planned launches lift a brand's expected volume for their time range."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.detect.alert import as_utc
from shared.db.config_models import CampaignRow


@dataclass(frozen=True, slots=True)
class Campaign:
    """A planned burst of attention for one brand."""

    brand: str
    starts_at: datetime
    ends_at: datetime
    expected_lift: float


class CampaignCalendar:
    """Lift lookup over a set of campaigns (pure; reload it to see new rows)."""

    def __init__(self, campaigns: Iterable[Campaign] = ()) -> None:
        self._by_brand: dict[str, list[Campaign]] = {}
        for c in campaigns:
            self._by_brand.setdefault(c.brand, []).append(c)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_brand.values())

    def lift(self, brand: str, at: datetime) -> float:
        """Return the largest lift of the brand's campaigns running at `at` (1.0 if none)."""
        ts = as_utc(at)
        lifts = [
            c.expected_lift
            for c in self._by_brand.get(brand, ())
            if as_utc(c.starts_at) <= ts <= as_utc(c.ends_at)
        ]
        return max([1.0, *lifts])


async def load_calendar(session: AsyncSession, *, since: datetime) -> CampaignCalendar:
    """Load every campaign still running at or after `since`."""
    rows = (
        await session.execute(select(CampaignRow).where(CampaignRow.ends_at >= since))
    ).scalars()
    return CampaignCalendar(
        Campaign(r.brand, r.starts_at, r.ends_at, float(r.expected_lift)) for r in rows
    )
