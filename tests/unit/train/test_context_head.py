"""The context head's training: its rows and writers, the two-class head, the threshold rule."""

from __future__ import annotations

import numpy as np

from services.sentiment.scorers.context_head import LABELS, REPORT
from tools.train.context_head import CORPUS, KEEP_SHARE, choose_threshold, training_rows
from tools.train.multilingual import fit_head


def test_rows_come_from_one_writer_per_language_and_the_corpus_tune_rows_only() -> None:
    rows = training_rows()
    writers = {w for w, _ in rows}
    assert writers == {f"posts-{lang}" for lang in ("de", "en", "es", "fr", "it", "pt")} | {CORPUS}
    assert all(r.split == "tune" for w, r in rows if w == CORPUS)  # held-out rows stay out
    for writer in writers - {CORPUS}:
        mine = [r for w, r in rows if w == writer]
        assert {r.language for r in mine} == {writer.removeprefix("posts-")}
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
