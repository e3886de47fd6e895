"""A rebuild that feeds one detector for the brand's quiet topics leaves every detector as
feeding each of them would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.alerting.detect.engine import DetectionEngine, EngineConfig
from services.alerting.detect.signals import RollupMinute

T0 = datetime(2024, 3, 4, 2, 30, tzinfo=UTC)  # spans not on the hour, as the worker's
HOURS = 30


def _minutes(busy_topic: str) -> list[RollupMinute]:
    out = []
    for m in range(HOURS * 60):
        start = (T0 + timedelta(minutes=m)).timestamp()
        count = 3 + (m % 7 == 0) * 4 + (600 <= m < 640) * 30  # and a burst after 10 hours
        out.append(RollupMinute(start, "", count, m % 2, count, 0.0, 0.0, count))
        if m % 5 == 0:
            out.append(RollupMinute(start, busy_topic, 1, 1, 1, 0.0, 0.0, 1))
    return out


def _rebuilt(minutes: list[RollupMinute], *, twinned: bool) -> DetectionEngine:
    engine = DetectionEngine(EngineConfig())
    twins = engine.quiet_twins("acme", {m.topic for m in minutes}) if twinned else {}
    for h in range(HOURS):
        since, until = ((T0 + timedelta(hours=h + k)).timestamp() for k in (0, 1))
        part = [m for m in minutes if since <= m.start < until]
        engine.replay("acme", part, since=since, until=until, emit=False, twins=twins)
    engine.copy_twins("acme", twins)
    return engine


def test_quiet_twins_rebuild_to_the_state_of_a_full_rebuild() -> None:
    busy, *quiet = sorted(EngineConfig().topics)
    minutes = _minutes(busy)
    twins = DetectionEngine(EngineConfig()).quiet_twins("acme", {m.topic for m in minutes})
    assert set(twins) == set(quiet[1:]) and set(twins.values()) == {quiet[0]}
    twinned, full = _rebuilt(minutes, twinned=True), _rebuilt(minutes, twinned=False)
    assert twinned.export("acme") == full.export("acme")
    series = twinned._brand("acme").series
    assert series[quiet[1]].spike is not series[quiet[0]].spike  # copies, not shared
    assert [b.start for b in series[quiet[1]].recent] == [b.start for b in series[busy].recent]
