"""The partition plan: names, bounds, what should exist at a given time, what has expired."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from shared.db.partitions import (
    SPEC_BY_TABLE,
    between,
    expired,
    horizon,
    missing,
    parse,
    partition_at,
    wanted,
)

MENTIONS = SPEC_BY_TABLE["mentions"]
MINUTES = SPEC_BY_TABLE["mention_rollups"]
DAILY = SPEC_BY_TABLE["mention_rollups_daily"]
NOW = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)


def test_partition_holding_a_time_in_each_width() -> None:
    day = partition_at(MENTIONS, NOW)
    assert (day.name, day.start, day.end) == (
        "mentions_p20261231",
        datetime(2026, 12, 31, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    month = partition_at(MINUTES, NOW)
    assert (month.name, month.end) == ("mention_rollups_p202612", datetime(2027, 1, 1, tzinfo=UTC))
    year = partition_at(DAILY, NOW)
    assert (year.name, year.start.year, year.end.year) == (
        "mention_rollups_daily_p2026",
        2026,
        2027,
    )


def test_other_time_zones_are_placed_by_their_utc_instant() -> None:
    from zoneinfo import ZoneInfo

    tokyo = datetime(2027, 1, 1, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 2026-12-31 23:00 UTC
    assert partition_at(MENTIONS, tokyo).name == "mentions_p20261231"


def test_names_round_trip_and_foreign_names_are_ignored() -> None:
    for spec in (MENTIONS, MINUTES, DAILY):
        part = partition_at(spec, NOW)
        assert parse(spec, part.name) == part
        assert parse(spec, spec.default) is None
    assert parse(MENTIONS, "mentions_p2026123") is None  # not a whole date
    assert parse(MENTIONS, "mentions_pxyz") is None
    assert parse(MINUTES, "mention_rollups_hourly_p202612") is None  # another table


def test_wanted_is_yesterday_today_and_the_days_ahead() -> None:
    names = [p.name for p in wanted(MENTIONS, NOW)]
    assert names[0] == "mentions_p20261230" and names[1] == "mentions_p20261231"
    assert names[-1] == "mentions_p20270107" and len(names) == 2 + MENTIONS.ahead
    months = [p.name for p in wanted(MINUTES, NOW)]
    assert months == [
        "mention_rollups_p202611",
        "mention_rollups_p202612",
        "mention_rollups_p202701",
        "mention_rollups_p202702",
    ]
    assert horizon(MENTIONS, NOW) == datetime(2027, 1, 8, tzinfo=UTC)


def test_between_covers_a_range_with_contiguous_partitions() -> None:
    parts = between(
        MENTIONS, datetime(2026, 2, 27, 12, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    )
    assert [p.name for p in parts] == [
        "mentions_p20260227",
        "mentions_p20260228",
        "mentions_p20260301",
    ]
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))


def test_missing_leaves_out_existing_names() -> None:
    have = {"mentions_default", "mentions_p20261231", "mentions_p20270101"}
    names = {p.name for p in missing(MENTIONS, NOW, have)}
    assert names.isdisjoint(have) and "mentions_p20261230" in names


def test_expired_are_partitions_wholly_before_the_cutoff_of_expiring_tables_only() -> None:
    cutoff = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    existing = [
        "mentions_default",
        "mentions_p20261201",
        "mentions_p20261202",  # ends exactly at 12-03 00:00: expired
        "mentions_p20261203",  # holds the cutoff: kept until it is wholly past
        "mentions_p20261204",
        "something_else",
    ]
    assert [p.name for p in expired(MENTIONS, existing, cutoff)] == [
        "mentions_p20261201",
        "mentions_p20261202",
    ]
    assert expired(MINUTES, ["mention_rollups_p202001"], cutoff) == []  # rollups are kept
    assert expired(MENTIONS, existing, cutoff - timedelta(days=30)) == []
