"""The figurative-head experiment: which sentences it trains on, how it picks its threshold."""

from __future__ import annotations

import numpy as np

from tools.train.figurative import MAX_LITERAL_LOSS, choose_threshold
from tools.train.figurative_data import CrisisWords


def test_only_sentences_that_name_a_crisis_word_are_kept() -> None:
    words = CrisisWords()
    assert words("the Acme store was on fire, firefighters on site", "en")
    assert words("Meu carregador explodiu", "pt")
    assert not words("what a lovely day at the beach", "en")


def test_threshold_hides_at_most_the_allowed_share_of_literal_reports() -> None:
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0.0, 0.9, 200), rng.uniform(0.7, 1.0, 50)])
    literal = np.arange(250) < 200
    t = choose_threshold(p, literal)
    assert (p[literal] >= t).mean() <= MAX_LITERAL_LOSS
    assert t - 0.005 < 0.5 or (p[literal] >= t - 0.005).mean() > MAX_LITERAL_LOSS  # lowest such
    assert (p[~literal] >= t).sum() > 0  # some figurative posts are still hidden


def test_no_threshold_fits_when_literal_reports_read_certain_figurative() -> None:
    assert choose_threshold(np.array([0.999, 0.999]), np.array([True, True])) == 1.0
