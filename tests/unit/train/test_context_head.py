"""The context head's training: its rows and writers, the two-class head, the threshold rule."""

from __future__ import annotations

import numpy as np

from services.sentiment.scorers.context_head import LABELS, REPORT
from tools.train.context_head import (
    CORPUS,
    KEEP_SHARE,
    Labelled,
    choose_rescue,
    choose_threshold,
    training_rows,
)
from tools.train.multilingual import fit_head


def test_rows_come_from_one_writer_per_language_and_the_corpus_tune_rows_only() -> None:
    rows = training_rows()
    writers = {w for w, _ in rows}
    languages = ("de", "en", "es", "fr", "it", "pt")
    assert {f"by_kind-{lang}" for lang in languages} <= writers
    assert all(r.split == "tune" for w, r in rows if w == CORPUS)  # held-out rows stay out
    for writer in writers - {CORPUS}:
        mine = [r for w, r in rows if w == writer]
        assert {r.language for r in mine} == {writer.rsplit("-", 1)[1]}
        assert sum(bool(r.expected) for r in mine) >= 100  # reports
        assert sum(not r.expected for r in mine) >= 150  # harmless uses


def test_a_two_class_head_separates_what_it_was_trained_on() -> None:
    # scikit-learn gives two classes a single logit; the head must still read both columns.
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(-1.0, 0.3, (60, 8)), rng.normal(1.0, 0.3, (60, 8))])
    labels = ["harmless"] * 60 + ["report"] * 60
    head = fit_head(x, labels, LABELS, encoder="toy", meta={})
    p = head.probabilities(x)[:, LABELS.index(REPORT)]
    assert p[:60].max() < 0.2 and p[60:].min() > 0.8


def test_threshold_is_the_highest_that_keeps_the_share_of_reports_the_gate_keeps() -> None:
    p = np.array([0.07, 0.12, 0.14] + [0.9] * 97 + [0.01] * 10)
    report = np.ones(len(p), bool)
    gate = np.arange(len(p)) < 100  # the gate already drops the last ten: moot for the head
    # 0.10 loses one report of the 100 the gate keeps, 0.15 three: more than 2%
    assert KEEP_SHARE == 0.98
    assert choose_threshold(p, report, gate) == 0.1


def test_no_threshold_when_every_report_reads_harmless() -> None:
    p = np.full(20, 0.01)
    assert choose_threshold(p, np.ones(20, bool), np.ones(20, bool)) == 0.0


def test_rescue_bar_is_the_lowest_whose_additions_are_as_precise_as_what_is_kept() -> None:
    # kept by the gate: 8 reports, 2 near misses (precision 0.8)
    # dropped by the gate, by head probability: 0.97 report, 0.92 report, 0.87 near miss,
    # 0.82 report, 0.72 near miss, 0.62 near miss
    p = np.array([0.9] * 10 + [0.97, 0.92, 0.87, 0.82, 0.72, 0.62])
    report = np.array([True] * 8 + [False] * 2 + [True, True, False, True, False, False])
    gate = np.array([True] * 10 + [False] * 6)
    data = Labelled(rows=[], writers=np.array([]), report=report, gate_keeps=gate,
                    named=np.ones(16, bool))  # fmt: skip
    # at 0.80: 3 of 4 rescued are reports (0.75 < 0.8); at 0.85: 2 of 3; at 0.90: 2 of 2
    assert choose_rescue(p, data, threshold=0.1) == 0.9
    never = Labelled(rows=[], writers=np.array([]), report=report, gate_keeps=gate,
                     named=gate.copy())  # fmt: skip
    assert choose_rescue(p, never, threshold=0.1) is None  # the gate dropped nothing named
