"""Digest periods: whole local days, due at the local hour, weekly on the weekday."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.alerting.digests.periods import (
    bucket_index,
    bucket_labels,
    buckets,
    due_period,
    ending,
    parse_period,
)

PARIS = ZoneInfo("Europe/Paris")


def test_daily_is_yesterday_once_the_hour_has_passed() -> None:
    # 07:30 UTC is 08:30 in Paris (winter): the digest of the 3rd is due at 08:00 local.
    period = due_period(
        "daily", datetime(2026, 12, 4, 7, 30, tzinfo=UTC), zone=PARIS, hour=8, weekday="monday"
    )
    assert (period.first, period.end_date) == (date(2026, 12, 3), date(2026, 12, 4))
    assert period.start == datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
    # Before 08:00 local the latest due digest is still the one of the 2nd.
    early = due_period(
        "daily", datetime(2026, 12, 4, 6, 30, tzinfo=UTC), zone=PARIS, hour=8, weekday="monday"
    )
    assert early.first == date(2026, 12, 2)


def test_weekly_covers_the_seven_days_before_the_weekday() -> None:
    # Friday 4 December 2026: the latest Monday is the 30th of November.
    period = due_period(
        "weekly", datetime(2026, 12, 4, 12, 0, tzinfo=UTC), zone=PARIS, hour=8, weekday="monday"
    )
    assert (period.first, period.end_date) == (date(2026, 11, 23), date(2026, 11, 30))
    assert period.days == 7
    assert period.previous().end_date == period.first
    # On the Monday itself, before the hour, it is still the week before.
    monday_early = due_period(
        "weekly", datetime(2026, 11, 30, 5, 0, tzinfo=UTC), zone=PARIS, hour=8, weekday="monday"
    )
    assert monday_early.end_date == date(2026, 11, 23)


def test_buckets_are_local_hours_or_days_and_follow_daylight_saving() -> None:
    # 25 October 2026: Paris falls back an hour, the day has 25 hours.
    day = ending("daily", date(2026, 10, 26), PARIS)
    assert len(buckets(day)) == 25
    week = ending("weekly", date(2026, 11, 30), PARIS)
    assert len(buckets(week)) == 7
    assert bucket_labels(week)[0] == "Mon 23"
    assert bucket_index(week, datetime(2026, 11, 29, 22, 59, tzinfo=UTC)) == 6
    assert bucket_index(week, datetime(2026, 11, 29, 23, 0, tzinfo=UTC)) is None


def test_period_names() -> None:
    assert parse_period("day") == "daily"
    assert parse_period("Weekly") == "weekly"
    with pytest.raises(ValueError, match="daily or weekly"):
        parse_period("monthly")
