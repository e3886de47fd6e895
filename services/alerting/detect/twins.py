"""Quiet twins: series of one brand whose volume detectors are in the same state and see no
mention over a span, so one of them can stand for the others while history is rebuilt.

A brand watches every crisis topic; most have no mention for days, and each would replay
the same zeros through its own detector. Detectors are deterministic, so a detector equal to
another's (same `to_dict`, same config) fed the same zeros ends in the same state: the
leader is fed, and each twin is given a copy of it at the end.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping

from services.alerting.detect.brand_detectors import Series
from services.alerting.detect.spikes import SpikeDetector


def quiet_twins(series: Mapping[str, Series], busy: Iterable[str]) -> dict[str, str]:
    """Return twin topic -> leader topic among the series with no bin in `busy` and no
    volume learned yet (never pooled into the population's day shape, so their state is
    read by nothing else while the span is replayed)."""
    busy_topics = set(busy)
    leaders: dict[tuple[int, str], str] = {}
    twins: dict[str, str] = {}
    for topic in sorted(series):
        spike = series[topic].spike
        if topic in busy_topics or spike.counts.level:
            continue  # a series with a level may be pooled into the population's day
        key = (id(spike.config), _state(spike))
        leader = leaders.setdefault(key, topic)
        if leader != topic:
            twins[topic] = leader
    return twins


def copy_twins(series: Mapping[str, Series], twins: Mapping[str, str]) -> None:
    """Give each twin a copy of its leader's detector (sharing the config object)."""
    for twin, leader in twins.items():
        spike = series[leader].spike
        series[twin].spike = copy.deepcopy(spike, {id(spike.config): spike.config})


def _state(spike: SpikeDetector) -> str:
    """The detector's stored state and the day-shape priors it borrows (not stored)."""
    shapes = (spike.counts.shape, spike.sustained.shape, spike.souring.shape)
    return json.dumps([spike.to_dict(), [s.prior for s in shapes]], sort_keys=True)
