"""The demo scenario is deterministic, multilingual, follows a day and grows a crisis."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from tools.demo.scenario import CRISIS_BRAND, generate, hourly_weight

END = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_same_seed_same_scenario_other_seed_differs() -> None:
    """Equal inputs give equal output; the seed changes it."""
    assert generate(seed=3, end=END) == generate(seed=3, end=END)
    assert generate(seed=3, end=END) != generate(seed=4, end=END)


def test_multilingual_and_several_brands() -> None:
    """English, Chinese and Spanish mentions for every brand, sorted by push time."""
    scenario = generate(end=END)
    languages = Counter(m.language for m in scenario)
    assert {"en", "zh", "es"} <= set(languages) and min(languages.values()) > 50
    assert any("起火" in m.payload["text"] for m in scenario)
    assert any("incendió" in m.payload["text"] for m in scenario)
    assert len({m.payload["brands"][0] for m in scenario}) >= 3
    assert [m.at_s for m in scenario] == sorted(m.at_s for m in scenario)
    assert len({m.payload["external_id"] for m in scenario}) == len(scenario)


def test_daily_rhythm() -> None:
    """Afternoon hours carry several times the volume of the small hours."""
    assert hourly_weight(16) > 3 * hourly_weight(4)
    hours = Counter(
        datetime.fromisoformat(m.payload["created_at"]).hour
        for m in generate(end=END, per_hour=60)
        if m.phase == "baseline"
    )
    assert sum(hours[h] for h in (14, 15, 16, 17)) > 3 * sum(hours[h] for h in (2, 3, 4, 5))


def test_crisis_grows_in_volume_negativity_and_authors() -> None:
    """The crisis is one brand, later minutes are busier and more alarmed, many authors."""
    crisis = [m for m in generate(end=END) if m.phase == "crisis"]
    assert {m.payload["brands"][0] for m in crisis} == {CRISIS_BRAND}
    assert len({m.payload["author"] for m in crisis}) == len(crisis) >= 100
    half = (crisis[0].at_s + crisis[-1].at_s) / 2
    early = [m for m in crisis if m.at_s < half]
    late = [m for m in crisis if m.at_s >= half]
    assert len(late) > 2 * len(early)

    def alarmed(ms: list) -> float:
        words = ("fire", "caught", "exploded", "起火", "爆炸", "着火", "incendi", "explotó")
        return sum(any(w in m.payload["text"] for w in words) for m in ms) / len(ms)

    assert alarmed(late) > alarmed(early)
    # Everything happens before `end`, after the day it follows.
    assert all(datetime.fromisoformat(m.payload["created_at"]) <= END for m in crisis)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_unattended_demo_opens_an_incident(infra) -> None:
    """A short unattended run: the crisis opens an incident within the timeout."""
    from tools.demo.run import run_demo

    summary = run_demo(duration_s=60, day_s=8, crisis_s=20, free_ports=True, notify_grace_s=10)
    assert summary["scored"] > 500
    assert summary["incidents"] >= 1
    assert summary["time_to_first_incident_s"] is not None
    # The printed room link opens as printed (its token signs in) and shows the crisis.
    assert re.search(r"/incidents/\d+\?t=", summary["incident_room"])
    assert re.fullmatch(r"HTTP 200: SEV[1-4] .+", summary["incident_room_heading"])
    if not summary["notifications"]:
        pytest.xfail("the alerting service does not deliver notifications (outbox not wired)")
