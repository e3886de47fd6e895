"""Detection engine (pure): crisis -> one assessed signal stream; bots, campaigns stay quiet."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.alerting.campaigns.calendar import Campaign, CampaignCalendar
from services.alerting.detect.engine import DetectionEngine, EngineConfig
from services.alerting.detect.signals import Decisions, RollupMinute
from services.alerting.detect.stories import OpenStory, place_signal
from shared.schemas import Mention, ScoredMention, SentimentScore

T0 = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)
FAR = 1e12  # wall clock never forces an idle flush in these tests
_ids = iter(range(10**9))


def mention(
    at: datetime,
    *,
    negative: bool,
    author: str,
    topics: tuple[str, ...] = (),
    reach: int = 100,
    market: str = "US",
) -> ScoredMention:
    label = "negative" if negative else "positive"
    return ScoredMention(
        mention=Mention(
            platform="x",
            external_id=str(next(_ids)),
            author_id=author,
            author_reach=reach,
            text="t",
            created_at=at,
            brands=["acme"],
            source={"market": market},
        ),
        language="en",
        language_confidence=1.0,
        sentiment=SentimentScore(label=label, score=0.0, confidence=1.0, scorer="t"),
        emotion="anger" if negative else "joy",
        topics=list(topics),
    )


def calm(hours: int, rng: random.Random) -> list[ScoredMention]:
    out = []
    for minute in range(hours * 60):
        for _ in range(max(0, round(rng.gauss(3, 1.7)))):
            at = T0 + timedelta(minutes=minute, seconds=rng.uniform(0, 59))
            out.append(mention(at, negative=rng.random() < 0.15, author=f"u{rng.randrange(500)}"))
    return out


def run(engine: DetectionEngine, items: list[ScoredMention]) -> Decisions:
    out = Decisions()
    for item in sorted(items, key=lambda s: s.mention.created_at):
        out.extend(engine.observe(item, wall_now=0))
        out.extend(engine.advance(wall_now=0))
    return out


def crisis(start: datetime, minutes: int, rng: random.Random, **kw: object) -> list[ScoredMention]:
    out = []
    for k in range(minutes):
        for i in range(4 + 3 * k):
            at = start + timedelta(minutes=k, seconds=rng.uniform(0, 59))
            out.append(
                mention(
                    at,
                    negative=rng.random() < 0.85,
                    author=str(kw.get("author") or f"c{rng.randrange(10**6)}"),
                    topics=("recall",),
                    market=("US", "GB", "DE")[i % 3],
                )
            )
    return out


def test_calm_hours_are_silent_and_crisis_yields_recall_signals() -> None:
    rng = random.Random(1)
    engine = DetectionEngine(EngineConfig())
    quiet = run(engine, calm(8, rng))
    assert quiet.signals == [] and quiet.gated == []
    start = T0 + timedelta(hours=8)
    out = run(engine, crisis(start, 20, rng))
    assert out.signals, "the crisis raised no signal"
    assert {s.story_topic for s in out.signals} == {"recall"}
    assert {s.category for s in out.signals} == {"recall"}
    first = min(out.signals, key=lambda s: s.at)
    assert first.at - start <= timedelta(minutes=10)
    assert first.severity.level in ("SEV1", "SEV2")
    assert first.severity.scope.markets == ("DE", "GB", "US")
    assert "negative_burst" not in {s.rule for s in out.signals}  # warm brand


def test_bot_flood_is_gated_and_does_not_use_up_the_cooldown() -> None:
    rng = random.Random(2)
    engine = DetectionEngine(EngineConfig())
    run(engine, calm(8, rng))
    start = T0 + timedelta(hours=8)
    flood = run(engine, crisis(start, 15, rng, author="bot"))
    assert flood.signals == [] and flood.gated
    later = run(engine, crisis(start + timedelta(minutes=20), 20, rng))
    assert later.signals, "a real crisis right after a bot flood must still page"


def test_campaign_lift_explains_a_planned_burst() -> None:
    def burst(lift: float) -> Decisions:
        rng = random.Random(3)
        start = T0 + timedelta(hours=8)
        cal = CampaignCalendar(
            [Campaign("acme", start, start + timedelta(hours=1), lift)] if lift > 1 else []
        )
        engine = DetectionEngine(EngineConfig(), lift=cal)
        run(engine, calm(8, rng))
        items = [
            mention(
                start + timedelta(minutes=k, seconds=rng.uniform(0, 59)),
                negative=False,
                author=f"f{rng.randrange(10**6)}",
            )
            for k in range(30)
            for _ in range(30)
        ]
        return run(engine, items)

    assert burst(1.0).signals, "without the campaign the burst is a spike"
    assert burst(12.0).signals == []


def test_cold_brand_pages_on_negative_burst_only() -> None:
    engine = DetectionEngine(EngineConfig())
    items = [
        mention(T0 + timedelta(seconds=3 * i), negative=True, author=f"u{i % 10}")
        for i in range(40)
    ]
    out = run(engine, items)
    assert [s.rule for s in out.signals] == ["negative_burst"]


def test_state_round_trip_continues_identically() -> None:
    rng = random.Random(4)
    history = calm(7, rng)
    tail = crisis(T0 + timedelta(hours=7), 20, random.Random(5))
    a = DetectionEngine(EngineConfig())
    run(a, history)
    b = DetectionEngine(EngineConfig())
    b.load("acme", a.export("acme"), wall_now=0)
    sa, sb = run(a, tail).signals, run(b, tail).signals
    assert [(s.rule, s.at, s.topic) for s in sa] == [(s.rule, s.at, s.topic) for s in sb]
    assert sa


def test_rebuild_from_rollups_warms_the_detectors() -> None:

    minutes = [
        RollupMinute(
            start=(T0 + timedelta(minutes=m)).timestamp(),
            topic="",
            count=3,
            negatives=0,
            scored=3,
            burst=0.0,
            neg_engagement=0.0,
            distinct_authors=3,
        )
        for m in range(7 * 60)
    ]
    engine = DetectionEngine(EngineConfig())
    until = (T0 + timedelta(hours=7)).timestamp()
    out = engine.replay("acme", minutes, until=until, emit=False)
    assert out.signals == []
    state = engine.export("acme")["acme||volume_spike"]
    assert state["short"]["n"] == 7 * 60 and state["last_ts"] == until


def test_replaying_rollups_hour_by_hour_equals_one_replay() -> None:
    """The worker rebuilds a brand an hour at a time (yielding to the event loop between
    hours): consecutive spans, a silent one among them, leave the same state as one pass."""
    minutes = [
        RollupMinute(
            start=(T0 + timedelta(minutes=m)).timestamp(),
            topic="",
            count=3 + (m % 7 == 0) * 4,
            negatives=m % 2,
            scored=3,
            burst=0.0,
            neg_engagement=0.0,
            distinct_authors=3,
        )
        for m in range(5 * 60)
        if not 120 <= m < 185  # an hour without a single mention
    ]
    until = (T0 + timedelta(hours=5)).timestamp()
    whole = DetectionEngine(EngineConfig())
    whole.replay("acme", minutes, until=until, emit=False)
    spans = DetectionEngine(EngineConfig())
    for h in range(5):
        start, end = (
            (T0 + timedelta(hours=h)).timestamp(),
            (T0 + timedelta(hours=h + 1)).timestamp(),
        )
        spans.replay("acme", minutes, since=start, until=end, emit=False)
    assert spans.export("acme") == whole.export("acme")
    assert whole.export("acme")["acme||volume_spike"]["short"]["n"] == 5 * 60


def test_placement_keeps_one_incident_per_story() -> None:
    at = T0
    window = timedelta(hours=1)
    recall = OpenStory(1, "recall", at, "SEV2")
    generic = OpenStory(2, "", at, "SEV3")
    assert place_signal(story_topic="recall", at=at, open_stories=[recall], window=window)
    same = place_signal(story_topic="recall", at=at, open_stories=[recall], window=window)
    assert same.incident_id == 1 and not same.retopic
    joined = place_signal(story_topic="", at=at, open_stories=[recall], window=window)
    assert joined.incident_id == 1
    stale = place_signal(
        story_topic="", at=at + timedelta(hours=3), open_stories=[recall], window=window
    )
    assert stale.incident_id is None
    upgraded = place_signal(story_topic="safety", at=at, open_stories=[generic], window=window)
    assert upgraded.incident_id == 2 and upgraded.retopic
    other = place_signal(story_topic="safety", at=at, open_stories=[recall], window=window)
    assert other.incident_id is None


def test_every_signal_carries_the_brand_volume_projection() -> None:
    """Ratio and keyword signals, which have no volume series of their own, carry the
    projection of the brand's volume (its count detector at the signal's time)."""
    from services.alerting.detect.bins import BRAND_TOPIC
    from services.alerting.detect.forecast import Projection, inputs_of

    rng = random.Random(1)
    engine = DetectionEngine(EngineConfig())
    run(engine, calm(8, rng))
    start = T0 + timedelta(hours=8)
    out = run(engine, crisis(start, 20, rng))
    ratio = [s for s in out.signals if s.rule in ("negative_share", "emotion_burst")]
    assert ratio, "the crisis raised no ratio signal"
    assert all("projection" in s.details for s in out.signals)
    counts = engine._brand("acme").series[BRAND_TOPIC].spike.counts
    loud = mention(start + timedelta(minutes=21), negative=True, author="press", reach=50_000)
    loud.topics.append("safety")
    keyword = [s for s in run(engine, [loud]).signals if s.rule == "critical_keyword"]
    assert len(keyword) == 1
    projection = Projection.from_dict(keyword[0].details["projection"])
    inputs = inputs_of(counts, loud.mention.created_at)
    assert inputs is not None and projection == inputs.project()
    assert projection.last_hour > 0


def test_a_page_on_a_background_mention_is_about_no_story() -> None:
    """A credible safety post that the clusterer put in the brand's background (its ordinary
    talk) still pages, but opens no story incident: the background is never an incident."""
    at = T0 + timedelta(hours=1)

    def keyword_signal(background: bool) -> list[str | None]:
        engine = DetectionEngine(EngineConfig())
        loud = mention(at, negative=True, author="press", topics=("safety",), reach=50_000)
        loud = loud.model_copy(update={"story_id": "bg-1", "story_background": background})
        signals = run(engine, [loud]).signals
        return [s.story_id for s in signals if s.rule == "critical_keyword"]

    assert keyword_signal(background=False) == ["bg-1"]
    assert keyword_signal(background=True) == [None]
