"""The context gate: a crisis-topic match counts only where the mention's tone supports it.

A topic term says what a post is about, not that something went wrong: "Acme's speaker
delivers amazing bass", "the Acme food court opens next week" and "this album is fire"
carry delivery, legal and safety terms. A crisis topic therefore counts (toward the topic's
volume, and as a critical keyword) only when the scorers that judged the mention support
it: a negative polarity, a fearful emotion, or, where no scorer covers the language, no
judgement against it; and never a post that laughs ("this ad killed me 😂", "un peligro
para mi cartera jaja"), which the scorers often read as negative. Idioms whose words are
not literal are removed earlier, by the topic tagger (`core.idioms`).

After the gate, the context head (`scorers.context_head`, trained on posts labelled as
reports or harmless uses) reads every post that names a crisis topic: below its threshold the
post's crisis topics are dropped; at or above its rescue bar they are kept even where the
tone gate dropped them (sarcasm, nervous laughter: "lol my inverter started to smoke").

The enricher also keeps a crisis term that comes after a contrast ("love the lineup, but
the smoke machine set a tent on fire"): the praise before it says nothing of what follows
(`IdiomMask.after_contrast`, words per language in `idioms.yaml`).

Why "not positive" rather than "labelled negative": crisis reports written as plain fact
score close to zero ("the Acme heater burned down our kitchen" +0.11, "data breach exposed
millions of passwords" -0.13 on the shipped model tier), so a label cut drops them. The
margins were tuned on the `tune` rows of tests/data/topic_context/*.csv.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.schemas import SentimentScore


@dataclass(frozen=True, slots=True)
class ContextGate:
    """How negative or fearful a mention must read for its crisis topics to count."""

    max_score: float = 0.2  # polarity above this (clearly positive) does not support a crisis
    fear_at_least: float = 0.5  # ... unless the mention reads this fearful


def supports_crisis(
    sentiment: SentimentScore | None,
    emotions: Mapping[str, float],
    *,
    laughs: bool = False,
    gate: ContextGate = ContextGate(),
) -> bool:
    """True when the mention's tone supports a crisis-topic match.

    `laughs`: the text carries a laughter marker; a fearful reading outweighs it. A mention
    no method scored (`sentiment` None) keeps its matches unless it laughs: there is no
    judgement against them, and a missed crisis costs more than a false page.
    """
    if emotions.get("fear", 0.0) >= gate.fear_at_least:
        return True  # fear outweighs a laugh: "it caught fire kkkk so scary"
    if laughs:
        return False
    if sentiment is None:
        return True
    return sentiment.label == "negative" or sentiment.score <= gate.max_score


@dataclass(frozen=True, slots=True)
class HeadCut:
    """Where the context head's report probability decides: below `threshold` a post's
    crisis words are a harmless use; at or above `rescue` (None: never) they are a report
    whatever its tone."""

    threshold: float
    rescue: float | None = None


def judge_by_context(
    kept: list[str],
    named: list[str],
    p_report: float,
    cut: HeadCut,
    *,
    is_critical: Callable[[str], bool],
) -> list[str]:
    """The topics a post keeps once the context head has read it.

    `named`: the topics the text names (after the idiom list); `kept`: those the tone gate
    kept; `p_report`: the head's probability that the post reports a problem.
    """
    if p_report < cut.threshold:
        return [t for t in kept if not is_critical(t)]
    if cut.rescue is not None and p_report >= cut.rescue:
        return named
    return kept
