"""`crisiswatch backtest`: replay stored rollups through the live engine, report its alerts.

The brand's rollups from `start` (plus warm-up history before it) to `end` go through the
same `DetectionEngine` as the live service, minute by minute, with the campaign calendar
applied. Rollups carry no author ids, so the distinct-author gate uses their per-minute
distinct-author counts. Output: one JSON line per alert, then a summary with alerts per
ISO week.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TextIO

from services.alerting.campaigns.calendar import load_calendar
from services.alerting.detect.alert import as_utc
from services.alerting.detect.engine import DetectionEngine
from services.alerting.detect.signals import Signal
from services.alerting.service import engine_config
from services.alerting.state import load_rollups
from shared.db.engine import create_engine, transaction
from shared.errors import BadInput
from shared.settings.alerting import AlertingSettings


def _week(ts: datetime) -> str:
    year, week, _ = ts.isocalendar()
    return f"{year}-W{week:02d}"


def _line(brand: str, signal: Signal) -> dict[str, Any]:
    return {
        "brand": brand,
        "at": signal.at.isoformat(),
        "week": _week(signal.at),
        "rule": signal.rule,
        "topic": signal.topic,
        "category": signal.category,
        "severity": signal.severity.level,
        "score": round(signal.score, 3),
        "value": round(signal.value, 3),
        "baseline": round(signal.baseline, 3),
    }


async def run_backtest(
    settings: AlertingSettings,
    *,
    brand: str,
    start: datetime,
    end: datetime,
    preset: str | None = None,
    warmup_hours: float = 24.0,
    out: TextIO = sys.stdout,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Replay `brand`'s rollups in [start, end) and report the alerts the engine would raise.

    `progress(text)` is told the step under way (the CLI shows it)."""
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise BadInput("backtest end must be after start")
    updates = {"alerting_preset": preset} if preset else {}
    settings = settings.model_copy(update=updates)
    warm_from = start - timedelta(hours=warmup_hours)
    db = create_engine(settings)
    progress(f"backtest: loading the rollups of {brand}")
    try:
        async with transaction(db) as session:
            minutes = await load_rollups(session, brand, since=warm_from, until=end)
            calendar = await load_calendar(session, since=warm_from)
    finally:
        await db.dispose()
    detection = DetectionEngine(engine_config(settings), lift=calendar)
    warm = [m for m in minutes if m.start < start.timestamp()]
    live = [m for m in minutes if m.start >= start.timestamp()]
    progress(f"backtest: replaying {len(minutes)} minutes through the detector")
    detection.replay(brand, warm, until=start.timestamp(), emit=False)
    decisions = detection.replay(brand, live, until=end.timestamp(), emit=True)
    for signal in decisions.signals:
        out.write(json.dumps(_line(brand, signal)) + "\n")
    weeks = (end - start).total_seconds() / (7 * 86400)
    summary: dict[str, Any] = {
        "summary": True,
        "brand": brand,
        "preset": settings.alerting_preset,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "minutes": len({m.start for m in live}),
        "alerts": len(decisions.signals),
        "alerts_per_week": round(len(decisions.signals) / weeks, 3) if weeks else 0.0,
        "per_week": dict(sorted(Counter(_week(s.at) for s in decisions.signals).items())),
        "per_rule": dict(Counter(s.rule for s in decisions.signals)),
        "gated": len(decisions.gated),
    }
    out.write(json.dumps(summary) + "\n")
    return summary
