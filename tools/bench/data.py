"""Deterministic synthetic mentions for benchmarks (multilingual, realistic lengths)."""

from __future__ import annotations

import random
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from services.ingest.core.normalize import pseudonymize
from shared.schemas import Engagement, Mention

TEXTS = (
    ("en", "The new {b} headphones sound amazing, best purchase this year!"),
    ("en", "My {b} order arrived broken and support keeps ignoring me. Terrible."),
    ("en", "Anyone else seeing the {b} app crash after the update? So annoying"),
    ("en", "{b} announced its quarterly results this morning."),
    ("en", "Battery of my {b} phone caught fire while charging, this is dangerous!!"),
    ("en", "Honestly {b} customer service was quick and friendly today :)"),
    ("es", "El pedido de {b} llegó roto y nadie responde. Pésimo servicio."),
    ("es", "Me encanta mi nuevo {b}, funciona perfecto."),
    ("zh", "{b}的耳机音质很好，非常满意"),
    ("zh", "{b}手机充电时电池起火了，太危险了！"),
    ("fr", "Le service client de {b} est vraiment nul, aucune réponse."),
    ("de", "Die neue {b} Uhr ist super, sehr zufrieden."),
    ("pt", "Comprei um {b} e chegou quebrado, que decepção."),
)
# Words mixed into every text so that (almost) no two texts are alike: scorers and caches
# see a varied vocabulary, as with real posts, not the same few sentences over and over.
FILLERS = {
    "en": (
        "honestly", "tbh", "again", "today", "yesterday", "lol", "ngl", "seriously", "wow",
        "my", "sister", "friend", "colleague", "the", "store", "downtown", "online", "week",
        "price", "delivery", "screen", "charger", "update", "review", "unboxing", "video",
        "waiting", "refund", "warranty", "shipping", "box", "manual", "color", "size",
        "morning", "weekend", "launch", "event", "ad", "campaign", "meh", "fine", "okay",
        "love", "hate", "great", "awful", "slow", "fast", "cheap", "expensive", "random",
    ),
    "es": (
        "hoy", "ayer", "otra", "vez", "mi", "hermana", "tienda", "envío", "precio",
        "pantalla", "cargador", "semana", "caja", "reembolso", "garantía", "la", "verdad",
    ),
    "fr": (
        "aujourd'hui", "encore", "ma", "sœur", "magasin", "livraison", "prix", "écran",
        "chargeur", "semaine", "boîte", "remboursement", "garantie", "franchement", "bon",
    ),
    "de": (
        "heute", "gestern", "wieder", "meine", "Schwester", "Laden", "Lieferung", "Preis",
        "Bildschirm", "Ladegerät", "Woche", "Karton", "Garantie", "ehrlich", "gut",
    ),
    "pt": (
        "hoje", "ontem", "de", "novo", "minha", "irmã", "loja", "entrega", "preço", "tela",
        "carregador", "semana", "caixa", "reembolso", "garantia", "sinceramente",
    ),
    "zh": (
        "今天", "昨天", "又", "我姐姐", "商店", "快递", "价格", "屏幕", "充电器", "这周",
        "包装", "退款", "保修", "说实话", "新款", "朋友",
    ),
}  # fmt: skip


def varied_text(rng: random.Random, language: str, template: str, brand: str) -> str:
    """`template` for `brand` with a few random words, a number and maybe a tag around it."""
    words = FILLERS[language]
    joiner = "" if language == "zh" else " "
    before = joiner.join(rng.choice(words) for _ in range(rng.randrange(0, 4)))
    after = joiner.join(rng.choice(words) for _ in range(rng.randrange(1, 5)))
    extra = rng.choice(
        (
            "",
            f" #{rng.choice(words)}{rng.randrange(100)}",
            f" @user{rng.randrange(10_000)}",
            f" {rng.randrange(2, 500)}",
        )
    )
    body = template.format(b=brand.capitalize())
    return f"{before}{joiner if before else ''}{body}{joiner}{after}{extra}".strip()


def generate_payloads(
    n: int,
    *,
    brands: tuple[str, ...] = ("acme", "globex"),
    seed: int = 7,
    start: datetime | None = None,
    prefix: str = "bench",
    languages: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """`n` push/replay payloads (the `MentionIn` shape), spread over the last hours.

    `languages` keeps only the templates of those languages (all of them by default).
    """
    rng = random.Random(seed)
    start = start or datetime.now(UTC) - timedelta(hours=2)
    texts = [t for t in TEXTS if languages is None or t[0] in languages]
    if not texts:
        raise ValueError(f"no benchmark texts in {sorted(languages or ())}")
    out = []
    for i in range(n):
        lang, template = texts[rng.randrange(len(texts))]
        brand = brands[i % len(brands)]
        out.append(
            {
                "platform": rng.choice(("x", "reddit", "mastodon", "bluesky")),
                "external_id": f"{prefix}-{i}",
                "author": f"user{rng.randrange(max(10, n // 5))}",
                "author_reach": rng.randrange(50_000),
                "text": varied_text(rng, lang, template, brand),
                "language": lang,
                "created_at": (start + timedelta(milliseconds=i * 50)).isoformat(),
                "engagement": {"likes": rng.randrange(100), "shares": rng.randrange(20)},
                "brands": [brand],
            }
        )
    return out


def generate_mentions(
    n: int, *, seed: int = 7, prefix: str = "bench", languages: Collection[str] | None = None
) -> list[Mention]:
    """`n` normalised `Mention` events, as ingest would produce them."""
    secret = b"bench-pseudonym-secret"
    mentions = []
    for p in generate_payloads(n, seed=seed, prefix=prefix, languages=languages):
        mentions.append(
            Mention(
                platform=p["platform"],
                external_id=p["external_id"],
                author_id=pseudonymize(p["platform"], p["author"], secret),
                author_reach=p["author_reach"],
                text=p["text"],
                language_hint=p["language"],
                created_at=datetime.fromisoformat(p["created_at"]),
                engagement=Engagement(**p["engagement"]),
                brands=p["brands"],
            )
        )
    return mentions
