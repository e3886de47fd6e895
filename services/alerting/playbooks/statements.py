"""Which holding statements an incident quotes: its main languages first, the rest listed. Pure.

An incident's main languages are the brand's first language (the first of its watchlist's
`languages`) followed by the languages most of the incident's negative mentions are written
in (each at least `MIN_SHARE` of them), kept when the playbook has a statement in them; when
none is, English. Every other language of the playbook is listed, not quoted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.alerting.playbooks.models import Playbook

FALLBACK_LANGUAGE = "en"
MAX_MAIN = 2  # statements quoted in a message; the others are listed with a link
MIN_SHARE = 0.3  # share of the incident's mentions that makes a language one of its main ones


@dataclass(frozen=True, slots=True)
class HoldingStatement:
    """A playbook's holding statement for one brand in one language."""

    language: str
    text: str
    main: bool


def main_languages(
    playbook: Playbook,
    *,
    brand_languages: Sequence[str],
    mention_languages: Mapping[str, int],
) -> list[str]:
    """Return the incident's main languages that the playbook has a statement in (never empty).

    `brand_languages` are the brand's watchlist languages in order; `mention_languages` counts
    the incident's mentions per language.
    """
    total = sum(mention_languages.values())
    dominant = [
        lang
        for lang, n in sorted(mention_languages.items(), key=lambda kv: (-kv[1], kv[0]))
        if total and n / total >= MIN_SHARE
    ]
    candidates = [*brand_languages[:1], *dominant]
    covered = [lang for lang in dict.fromkeys(candidates) if lang in playbook.holding_statements]
    return covered[:MAX_MAIN] or [FALLBACK_LANGUAGE]


def holding_statements(
    playbook: Playbook, *, brand: str, main: Sequence[str]
) -> list[HoldingStatement]:
    """Every statement of the playbook for `brand`: the main languages first, in their order."""
    rest = sorted(lang for lang in playbook.holding_statements if lang not in main)
    return [
        HoldingStatement(lang, playbook.holding_statement(lang, brand=brand), lang in main)
        for lang in [*main, *rest]
        if lang in playbook.holding_statements
    ]
