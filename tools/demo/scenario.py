"""A deterministic demo scenario: a compressed day of brand chatter, then a growing crisis.

Two brands with a competitor each talk in English, Chinese and Spanish through one day whose
volume follows a daily rhythm (quiet at 4 am, busiest in the afternoon). At the end of the day
a product-safety story ("the battery caught fire") breaks for one brand: more mentions every
minute, increasingly negative, from many distinct authors. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Phase = Literal["baseline", "crisis"]

# brand -> (display name, product, competitor)
BRANDS: dict[str, tuple[str, str, str]] = {
    "voltix": ("Voltix", "X5 phone", "nordphone"),
    "nordphone": ("Nordphone", "N2 phone", "voltix"),
    "brewly": ("Brewly", "cold brew", "kaffa"),
    "kaffa": ("Kaffa", "espresso", "brewly"),
}
CRISIS_BRAND = "voltix"
LANGUAGES = ("en", "zh", "es")
PLATFORMS = ("x", "reddit", "mastodon", "bluesky", "weibo")

# language -> tone -> templates; {b} brand, {p} product, {c} competitor
BASELINE: dict[str, dict[str, list[str]]] = {
    "en": {
        "praise": [
            "Loving my new {b} {p}, honestly the best purchase this year!",
            "Shout-out to {b} support, fixed my problem in five minutes. Great service.",
            "The {b} {p} is amazing, so happy I picked it over {c}.",
            "{b} just nails it every time. Excellent quality, thank you!",
        ],
        "complaint": [
            "My {b} order is late again, pretty disappointing.",
            "Not impressed with the {b} {p}, feels overpriced and slow.",
            "Waited 40 minutes on the {b} hotline today. Annoying.",
        ],
        "neutral": [
            "{b} announced its quarterly results on Tuesday.",
            "Is the {b} store in the city centre open on Sundays?",
            "Comparing the {b} {p} with the {c} one before I decide.",
            "{b} opens a new flagship store next month.",
        ],
    },
    "zh": {
        "praise": [
            "{b}的{p}真的很好用，非常满意！",
            "{b}客服态度很好，问题很快就解决了，赞！",
            "比起{c}，我更喜欢{b}，质量很棒。",
        ],
        "complaint": [
            "{b}的快递又晚了，有点失望。",
            "{b}的{p}太贵了，性价比不高。",
        ],
        "neutral": [
            "{b}下个月在上海开新店。",
            "请问{b}的{p}有几种颜色？",
            "{b}今天发布了季度财报。",
        ],
    },
    "es": {
        "praise": [
            "¡Me encanta mi {p} de {b}, la mejor compra del año!",
            "El servicio de {b} es excelente, resolvieron todo en minutos.",
            "{b} es genial, mucho mejor que {c}. ¡Gracias!",
        ],
        "complaint": [
            "Mi pedido de {b} llega tarde otra vez, qué decepción.",
            "El {p} de {b} es demasiado caro para lo que ofrece.",
        ],
        "neutral": [
            "{b} abre una nueva tienda en Madrid el mes que viene.",
            "¿Alguien sabe a qué hora abre la tienda de {b}?",
            "{b} presentó sus resultados trimestrales el martes.",
        ],
    },
}

# The crisis: first worried questions, then outright alarm.
CRISIS: dict[str, dict[str, list[str]]] = {
    "en": {
        "early": [
            "Has anyone else's {b} {p} battery gotten really hot while charging?",
            "My {b} {p} smells like burning plastic when it charges, is that normal?",
        ],
        "alarm": [
            "My {b} {p} battery caught fire on my nightstand! Terrifying and dangerous.",
            "The {b} {p} exploded while charging. Awful, my kid was right there!",
            "Another {b} battery fire. This is a disaster, recall it now!",
            "Horrible: my {b} {p} burned my desk. Never buying {b} again.",
            "{b} {p} caught fire in my car. Scared and furious, worst product ever.",
        ],
    },
    "zh": {
        "early": ["有人的{b}{p}充电时电池特别烫吗？"],
        "alarm": [
            "我的{b}{p}充电时电池起火了，太可怕了！",
            "{b}手机电池爆炸了，太危险了，必须召回！",
            "{b}{p}着火了，质量太差，非常愤怒！",
        ],
    },
    "es": {
        "early": ["¿A alguien más se le calienta mucho la batería del {p} de {b}?"],
        "alarm": [
            "¡La batería de mi {p} de {b} se incendió! Qué miedo, es peligroso.",
            "Mi {b} {p} explotó mientras cargaba. Horrible, ¡que lo retiren ya!",
            "Otro incendio de batería de {b}. Terrible y vergonzoso.",
        ],
    },
}


@dataclass(frozen=True, slots=True)
class ScenarioMention:
    """One mention to push `at_s` seconds after the replay started."""

    at_s: float
    phase: Phase
    language: str
    payload: dict[str, Any] = field(hash=False)


def hourly_weight(hour: float) -> float:
    """Relative volume at `hour` (0-24): lowest at 4 am, highest at 4 pm."""
    return 0.15 + 0.85 * (1 - math.cos(2 * math.pi * (hour - 4) / 24)) / 2


def _language(rng: random.Random) -> str:
    return rng.choices(LANGUAGES, weights=(0.55, 0.25, 0.20))[0]


def _fill(template: str, brand: str) -> str:
    name, product, competitor = BRANDS[brand]
    return template.format(b=name, p=product, c=BRANDS[competitor][0])


def _payload(
    rng: random.Random, *, ident: str, brand: str, text: str, author: str, created: datetime
) -> dict[str, Any]:
    return {
        "platform": rng.choice(PLATFORMS),
        "external_id": ident,
        "author": author,
        "text": text,
        "created_at": created.isoformat(),
        "brands": [brand],
        "engagement": {"likes": rng.randint(0, 40), "shares": rng.randint(0, 8)},
    }


def generate(
    *,
    seed: int = 7,
    end: datetime,
    run_id: str = "demo",
    day_s: float = 60.0,
    crisis_s: float = 45.0,
    per_hour: float = 24.0,
    crisis_minutes: int = 12,
    brands: Sequence[str] = tuple(BRANDS),
    crisis_brand: str = CRISIS_BRAND,
) -> list[ScenarioMention]:
    """The scenario ending at `end`, sorted by push time; equal inputs give equal output.

    The day (created_at from end - 24 h - crisis to end - crisis) is pushed over `day_s`
    seconds, the crisis (its last `crisis_minutes`) over the following `crisis_s` seconds.
    """
    if crisis_brand not in brands:
        raise ValueError(f"crisis brand {crisis_brand!r} is not among {list(brands)}")
    rng = random.Random(seed)
    crisis_len = timedelta(minutes=crisis_minutes)
    day_start = end - timedelta(hours=24) - crisis_len
    out: list[ScenarioMention] = []
    counter = 0

    def next_id(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{run_id}-{prefix}-{counter:05d}"

    # Baseline: per 10-minute slot, a volume that follows the daily rhythm.
    for slot in range(24 * 6):
        slot_start = day_start + timedelta(minutes=10 * slot)
        hour = (slot_start.hour + slot_start.minute / 60) % 24
        expected = per_hour / 6 * hourly_weight(hour) * len(brands) / 2
        count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        for _ in range(count):
            created = slot_start + timedelta(seconds=rng.uniform(0, 600))
            brand = rng.choice(list(brands))
            language = _language(rng)
            tone = rng.choices(("praise", "complaint", "neutral"), weights=(0.45, 0.2, 0.35))[0]
            text = _fill(rng.choice(BASELINE[language][tone]), brand)
            author = f"{language}_user{rng.randint(1, 300)}"
            at_s = (created - day_start) / timedelta(hours=24) * day_s
            payload = _payload(
                rng, ident=next_id("b"), brand=brand, text=text, author=author, created=created
            )
            out.append(ScenarioMention(at_s, "baseline", language, payload))

    # Crisis: minute k carries 2 + k**1.6 mentions; the share of alarmed posts grows with k.
    crisis_start = end - crisis_len
    for minute in range(crisis_minutes):
        volume = 2 + round(minute**1.6)
        alarm_share = min(1.0, 0.3 + minute / max(1, crisis_minutes - 4))
        for _ in range(volume):
            created = crisis_start + timedelta(minutes=minute, seconds=rng.uniform(0, 60))
            language = _language(rng)
            stage = "alarm" if rng.random() < alarm_share else "early"
            text = _fill(rng.choice(CRISIS[language][stage]), crisis_brand)
            author = f"{language}_witness{next_id('a')}"
            at_s = day_s + (created - crisis_start) / crisis_len * crisis_s
            payload = _payload(
                rng,
                ident=next_id("c"),
                brand=crisis_brand,
                text=text,
                author=author,
                created=created,
            )
            out.append(ScenarioMention(at_s, "crisis", language, payload))
    out.sort(key=lambda m: (m.at_s, m.payload["external_id"]))
    return out
