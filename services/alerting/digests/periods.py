"""Digest periods, pure: which local days a digest covers and when it is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.settings.digests import WEEKDAYS, DigestPeriod, Weekday

_DAYS: dict[DigestPeriod, int] = {"daily": 1, "weekly": 7}
ALIASES: dict[str, DigestPeriod] = {
    "daily": "daily",
    "day": "daily",
    "weekly": "weekly",
    "week": "weekly",
}


@dataclass(frozen=True, slots=True)
class Period:
    """Whole local days `[first, end_date)` in `zone`; `start`/`end` are their UTC bounds."""

    kind: DigestPeriod
    first: date
    end_date: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        """The UTC instant of local midnight starting the first day."""
        return _midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        """The UTC instant of local midnight after the last day (exclusive)."""
        return _midnight(self.end_date, self.zone)

    @property
    def days(self) -> int:
        """Number of days covered."""
        return (self.end_date - self.first).days

    @property
    def label(self) -> str:
        """The days covered, as a reader names them."""
        last = self.end_date - timedelta(days=1)
        if self.first == last:
            return f"{self.first:%a %d %b %Y}"
        return f"{self.first:%d %b} - {last:%d %b %Y}"

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.kind, self.first - timedelta(days=self.days), self.first, self.zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def parse_period(value: str) -> DigestPeriod:
    """`daily`/`day` or `weekly`/`week`; ValueError otherwise."""
    try:
        return ALIASES[value.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown digest period {value!r}: use daily or weekly") from None


def ending(kind: DigestPeriod, end_date: date, zone: ZoneInfo) -> Period:
    """The period of `kind` whose last day is the day before `end_date`."""
    return Period(kind, end_date - timedelta(days=_DAYS[kind]), end_date, zone)


def due_period(
    kind: DigestPeriod, now: datetime, *, zone: ZoneInfo, hour: int, weekday: Weekday
) -> Period:
    """The latest period whose send time (`hour` local on its end date) is not after `now`.

    A daily digest covers the day before the send day; a weekly one the 7 days before
    `weekday`. Only the latest is returned: after an outage, missed ones are not caught up.
    """
    local = now.astimezone(zone)
    end_date = local.date()
    if local.hour < hour:
        end_date -= timedelta(days=1)
    if kind == "weekly":
        end_date -= timedelta(days=(end_date.weekday() - WEEKDAYS.index(weekday)) % 7)
    return ending(kind, end_date, zone)


def buckets(period: Period) -> list[datetime]:
    """The UTC starts of the chart buckets: hours of a one-day period, days of longer ones."""
    if period.days == 1:
        hours = int((period.end - period.start).total_seconds() // 3600)
        return [period.start + timedelta(hours=h) for h in range(hours)]
    return [_midnight(period.first + timedelta(days=d), period.zone) for d in range(period.days)]


def bucket_index(period: Period, at: datetime) -> int | None:
    """Which bucket of `period` holds the instant `at` (None: outside the period)."""
    if not period.start <= at < period.end:
        return None
    if period.days == 1:
        return int((at - period.start).total_seconds() // 3600)
    return (at.astimezone(period.zone).date() - period.first).days


def bucket_labels(period: Period) -> list[str]:
    """Reader labels of the buckets (local hours or local days)."""
    if period.days == 1:
        return [f"{b.astimezone(period.zone):%H:%M}" for b in buckets(period)]
    return [f"{period.first + timedelta(days=d):%a %d}" for d in range(period.days)]
