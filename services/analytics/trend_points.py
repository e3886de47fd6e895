"""Trend rows to `TrendPoint` dicts by columns: the means of thousands of buckets at once.

A 90-day hourly trend is 2,160 buckets with seven rounded means each. Rounding them one
`round()` call at a time took half the route's Python time, so the means are divided and
rounded as numpy columns, with exactly the values `round(x, 4)` gives (see
`round_half_even`), and each point is one dict literal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.schemas import EMOTIONS

# Mean emotions per point, in the column order of the trend rows.
EMOTION_COLUMNS: tuple[str, ...] = tuple(e for e in EMOTIONS if e != "neutral")
MEAN_DIGITS = 4  # decimals of mean_score and the mean emotions

# `_points` writes the emotions dict as a literal (a `dict(zip(...))` per point costs as
# much as the rest of the point); this holds it to the shared vocabulary.
if EMOTION_COLUMNS != ("anger", "fear", "sadness", "joy", "surprise", "disgust"):
    raise ImportError(f"trend_points writes the emotions {EMOTION_COLUMNS} by name: update it")

_Floats = npt.NDArray[np.float64]


def round_half_even(values: _Floats, ndigits: int = MEAN_DIGITS) -> _Floats:
    """`round(x, ndigits)` of each value, bit for bit, vectorised.

    Python rounds the exact binary value to the nearest multiple of 10**-ndigits, ties to
    even. Here x * 10**ndigits is rounded to an integer n with `rint` (ties to even) and
    n / 10**ndigits, a correctly rounded division of exact operands, is the double nearest
    the decimal, which is `round`'s result. The product carries an error below
    2**-52 of itself, so n is right unless the product lies that close to a half; those
    values (exact ties such as 0.03125, and non-finite or huge ones) go to `round`.
    """
    if not 0 <= ndigits <= 15:
        raise ValueError(f"ndigits must be 0..15, got {ndigits}")
    scale = 10.0**ndigits
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = values * scale
        nearest = np.rint(scaled)
        rounded = nearest / scale
        margin = np.abs(scaled) * 2.0**-50 + 1e-9
        safe = (np.abs(np.abs(scaled - nearest) - 0.5) > margin) & (np.abs(scaled) < 2.0**52)
    for i in np.flatnonzero(~safe):
        rounded[i] = round(float(values[i]), ndigits)
    return rounded


def _means(sums: Sequence[float], counts: _Floats) -> _Floats:
    """Rounded sums / counts; 0.0 where the count is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(sums, dtype=np.float64) / counts
    return round_half_even(np.where(counts > 0, ratio, 0.0))


def trend_points(rows: Sequence[Sequence[Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows of (brand, bucket, volume, negative, neutral, positive, unscored, sentiment_sum,
    the six emotion sums, engagement, reach) to each brand's points, in row order."""
    if not rows:
        return {}
    brands, buckets, volume, negative, neutral, positive, unscored, total, *emotions, engagement, \
        reach = zip(*rows, strict=True)  # fmt: skip
    volumes = np.asarray(volume, dtype=np.float64)
    scored = np.add(np.add(negative, neutral, dtype=np.float64), positive)
    means = _means(total, scored).tolist()
    mean_emotions = np.stack([_means(column, volumes) for column in emotions], axis=1).tolist()
    points = [
        {
            "bucket": bucket,
            "volume": v,
            "negative": neg,
            "neutral": neu,
            "positive": pos,
            "unscored": uns,
            "mean_score": mean if neg + neu + pos else None,
            "emotions": {
                "anger": anger,
                "fear": fear,
                "sadness": sadness,
                "joy": joy,
                "surprise": surprise,
                "disgust": disgust,
            },
            # Sums of bigint columns are numeric, so they may arrive as Decimal.
            "engagement": eng,
            "reach": rea,
        }
        for bucket, v, neg, neu, pos, uns, mean, (anger, fear, sadness, joy, surprise, disgust),
            eng, rea in zip(buckets, volume, negative, neutral, positive, unscored, means,
                            mean_emotions, map(int, engagement), map(int, reach), strict=True)
    ]  # fmt: skip
    series: dict[str, list[dict[str, Any]]] = {}
    for brand, point in zip(brands, points, strict=True):
        series.setdefault(brand, []).append(point)
    return series
