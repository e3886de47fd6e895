"""Fresh projections of the series of open stories, every `REFRESH_MINUTES` of bin time. Pure.

A story's incident keeps the projection of its latest volume signal; between signals (a
detector pages once per episode) these refreshes keep it current as the story develops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from services.alerting.detect.bins import BRAND_TOPIC
from services.alerting.detect.forecast import inputs_of
from services.alerting.detect.signals import Refresh
from services.alerting.detect.spikes import SpikeDetector

REFRESH_MINUTES = 15


class Watched(Protocol):
    """A series of the engine: its volume detector."""

    spike: SpikeDetector


def refreshes(
    open_stories: Iterable[tuple[str, str]],
    brand: str,
    series: Mapping[str, Watched],
    end: datetime,
) -> list[Refresh]:
    """The projections of `brand`'s open stories when `end` is on a refresh boundary."""
    if int(end.timestamp()) % (REFRESH_MINUTES * 60):
        return []
    out = []
    for story_brand, topic in sorted(open_stories):
        if story_brand != brand:
            continue
        watched = series.get(topic) or series.get(BRAND_TOPIC)
        inputs = inputs_of(watched.spike.counts, end) if watched is not None else None
        if inputs is not None:
            out.append(Refresh(brand, topic, end, inputs.project().to_dict()))
    return out
