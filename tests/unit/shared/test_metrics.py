"""Bulk histogram observations match one `observe()` per value."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest

from shared.metrics import LATENCY_BUCKETS, observe_many


def _exposition(values: list[float], bulk: bool) -> bytes:
    registry = CollectorRegistry()
    histogram = Histogram("t_seconds", "test", buckets=LATENCY_BUCKETS, registry=registry)
    if bulk:
        observe_many(histogram, values)
    else:
        for value in values:
            histogram.observe(value)
    lines = generate_latest(registry).splitlines()
    return b"\n".join(line for line in lines if b"_created" not in line)  # creation times differ


def test_observe_many_equals_observing_each_value() -> None:
    values = [0.0, 0.001, 0.0011, 0.3, 0.25, 2.5, 7.0, 31.0, 1e9, 0.0004] * 3
    assert _exposition(values, bulk=True) == _exposition(values, bulk=False)
    assert b't_seconds_bucket{le="0.25"} 15.0' in _exposition(values, bulk=True)


def test_observe_many_of_nothing_changes_nothing() -> None:
    assert _exposition([], bulk=True) == _exposition([], bulk=False)
