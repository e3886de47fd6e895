"""Trend points built by columns equal the per-row reference: same values, same JSON bytes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pytest

from services.analytics.trend_points import EMOTION_COLUMNS, round_half_even, trend_points


def _reference(row: tuple[Any, ...]) -> dict[str, Any]:
    """One point as the route built it row by row with `round` before the columns."""
    _, bucket, volume, negative, neutral, positive, unscored, total, *emotions, eng, reach = row
    scored = negative + neutral + positive
    return {
        "bucket": bucket,
        "volume": volume,
        "negative": negative,
        "neutral": neutral,
        "positive": positive,
        "unscored": unscored,
        "mean_score": round(total / scored, 4) if scored else None,
        "emotions": dict(zip(EMOTION_COLUMNS, [round(e / volume, 4) for e in emotions]))
        if volume
        else dict.fromkeys(EMOTION_COLUMNS, 0.0),
        "engagement": int(eng),
        "reach": int(reach),
    }


def _rows(seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    rows = []
    for brand in ("acme", "globex"):
        for hour in range(300):
            volume = rng.choice([0, 1, 2, 3, 7, 32, 160, rng.randint(0, 5000)])
            negative = rng.randint(0, volume)
            neutral = rng.randint(0, volume - negative)
            positive = rng.randint(0, volume - negative - neutral)
            scored = negative + neutral + positive
            # Sums that land on exact ties (k/32 of 32 mentions) and arbitrary ones.
            total = rng.choice([rng.uniform(-scored, scored), rng.randint(-scored, scored) / 32])
            emotions = [
                rng.choice([rng.uniform(0, volume), rng.randint(0, 32 * volume) / 32, 0.0])
                for _ in EMOTION_COLUMNS
            ]
            engagement = rng.choice([rng.randint(0, 10**6), Decimal(rng.randint(0, 10**12))])
            rows.append((brand, start + timedelta(hours=hour), volume, negative, neutral,
                         positive, rng.randint(0, 3), total, *emotions, engagement,
                         Decimal(rng.randint(0, 10**9))))  # fmt: skip
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_points_equal_the_row_by_row_reference_in_value_and_json(seed: int) -> None:
    rows = _rows(seed)
    expected: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        expected.setdefault(row[0], []).append(_reference(row))

    points = trend_points(rows)

    assert list(points) == ["acme", "globex"]
    assert points == expected
    assert orjson.dumps(points, option=orjson.OPT_UTC_Z) == orjson.dumps(
        expected, option=orjson.OPT_UTC_Z
    )
    zero = next(p for p in points["acme"] if p["volume"] == 0)
    assert zero["emotions"] == dict.fromkeys(EMOTION_COLUMNS, 0.0)
    assert all(p["mean_score"] is None for p in points["acme"] if p["volume"] == 0)
    assert all(type(p["engagement"]) is int for p in points["globex"])


def test_no_rows_give_no_points() -> None:
    assert trend_points([]) == {}


def test_rounding_matches_round_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.uniform(-1, 1, 50_000),
            rng.integers(-4096, 4096, 20_000) / 4096,  # many exact ties at the 4th decimal
            rng.uniform(-1e9, 1e9, 20_000),
            np.array([0.0, -0.0, 0.03125, -0.03125, 0.00005, -0.00004, 0.99995, 1e-300,
                      5e-324, 2.0**60, 1e300, float("inf"), float("-inf")]),
        ]
    )  # fmt: skip

    rounded = round_half_even(values)

    expected = np.array([round(float(v), 4) for v in values])
    assert np.array_equal(rounded, expected)
    assert np.array_equal(np.signbit(rounded), np.signbit(expected))  # -0.0 stays -0.0
    assert np.isnan(round_half_even(np.array([float("nan")]))).all()


def test_rounding_refuses_digits_it_cannot_do_exactly() -> None:
    with pytest.raises(ValueError, match="ndigits"):
        round_half_even(np.array([0.5]), ndigits=16)
