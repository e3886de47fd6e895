"""Benchmark data: deterministic, varied, and limited to the languages asked for."""

from __future__ import annotations

import pytest

from tools.bench.data import generate_mentions, generate_payloads


def test_language_filter_keeps_only_those_languages() -> None:
    english = generate_mentions(300, languages=("en",))
    assert {m.language_hint for m in english} == {"en"}
    assert len({m.text for m in english}) > 290  # varied, not a few sentences cycled
    mixed = generate_mentions(300)
    assert {"en", "zh", "es"} <= {m.language_hint for m in mixed}


def test_same_seed_same_payloads_and_unknown_language_is_refused() -> None:
    a = generate_payloads(50, seed=3, languages=("de", "fr"))
    b = generate_payloads(50, seed=3, languages=("de", "fr"))
    assert [p["text"] for p in a] == [p["text"] for p in b]
    with pytest.raises(ValueError, match="no benchmark texts"):
        generate_payloads(5, languages=("xx",))
