"""Distinct-author gate: a flood from one account or a handful of bots must not page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuthorGateConfig:
    """How many distinct voices a volume alert needs to be believed."""

    min_distinct: int = 5
    min_distinct_ratio: float = 0.2  # distinct authors per post in the window
    max_top_share: float = 0.5  # share of the window's posts written by the top author


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Whether an alert passes the gate, and why not when it does not."""

    passed: bool
    reason: str


def author_gate(
    *,
    volume: int,
    distinct_authors: int,
    top_author_share: float | None = None,
    config: AuthorGateConfig | None = None,
) -> GateDecision:
    """Decide whether the window's posts come from enough independent authors."""
    cfg = config or AuthorGateConfig()
    if distinct_authors < cfg.min_distinct:
        return GateDecision(False, f"only {distinct_authors} distinct authors")
    if volume > 0 and distinct_authors / volume < cfg.min_distinct_ratio:
        return GateDecision(False, f"{volume} posts from {distinct_authors} authors")
    if top_author_share is not None and top_author_share > cfg.max_top_share:
        return GateDecision(False, f"top author wrote {top_author_share:.0%} of posts")
    return GateDecision(True, "enough distinct authors")
