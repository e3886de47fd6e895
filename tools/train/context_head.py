"""Train the context head: is a post that names a crisis word a report, or a harmless use?

`crisiswatch model build --kind context` runs `build_context_head`. Data, all labelled by
the people who wrote it, never ../shared:
- `tools/train/context_posts/` (see its README): posts written for this head, in rounds
  (one folder each) with one writer per language (en, es, pt, fr, de, it), 160 harmless
  uses and 110 reports per writer;
- the `tune` rows of the near-miss corpus `tests/data/topic_context` (its `held_out` rows
  stay out, so they keep measuring the shipped service).
Features are the model tier's sentence vector alone (the enricher already holds it); the
head is the model tier's ensemble (`tools.train.multilingual.fit_head`).

The threshold is chosen leaving one writer out (each round's posts in one language, and the
corpus, are a writer): every row is scored by a head trained without its writer, and the
threshold is the highest of a coarse grid at which the head keeps `KEEP_SHARE` of the
reports the tone gate keeps; the rescue bar (posts the tone gate dropped, sarcasm and
nervous laughter among them, that the head keeps) is the lowest at which what it adds is
reports at least as often as what the service keeps. The head is then trained on every row.
Needs scikit-learn (a dev dependency).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from services.sentiment.core.enrich import Enricher
from services.sentiment.core.topics import TopicLexicon
from services.sentiment.scorers.context_head import CONTEXT_HEAD, HARMLESS, LABELS, REPORT
from services.sentiment.scorers.heads import HEAD_DIR, Head
from services.sentiment.scorers.model_tier import ModelTier, context_head_path
from shared.contracts.topics import topic_contract
from shared.schemas import Mention
from tools.eval.topic_context import Row, load_rows
from tools.train.multilingual import fit_head

POSTS_DIR = Path(__file__).resolve().parent / "context_posts"
CORPUS_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "topic_context"
KEEP_SHARE = 0.98  # of the reports the tone gate keeps, held out
THRESHOLD_GRID: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 11))
RESCUE_GRID: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(10, 20))
CORPUS = "corpus"


@dataclass(frozen=True)
class Labelled:
    """Training rows with their writer, label and the tone gate's answer."""

    rows: list[Row]
    writers: np.ndarray  # str per row
    report: np.ndarray  # bool per row: a crisis report
    gate_keeps: np.ndarray  # bool per row: the service without the head keeps a crisis topic
    named: np.ndarray  # bool per row: the text names a crisis topic (after the idiom list)


def training_rows(
    posts_dir: Path = POSTS_DIR, corpus_dir: Path = CORPUS_DIR
) -> list[tuple[str, Row]]:
    """(writer, row) of the written posts and the corpus tune rows. Each folder of
    `posts_dir` is a round of writing with one writer per language: `<folder>-<language>`."""
    out: list[tuple[str, Row]] = []
    for folder in sorted(p for p in posts_dir.iterdir() if p.is_dir()):
        out += [(f"{folder.name}-{r.language}", r) for r in load_rows(sorted(folder.glob("*.csv")))]
    corpus = [r for r in load_rows(sorted(corpus_dir.glob("*.csv"))) if r.split == "tune"]
    return out + [(CORPUS, r) for r in corpus]


def label(tier: ModelTier, written: Sequence[tuple[str, Row]]) -> Labelled:
    """Each row's writer and label, and whether the service without a context head (the
    tone gate) keeps a crisis topic of it."""
    critical = set(topic_contract().crisis_topics)
    now = datetime.now(UTC)
    rows = [r for _, r in written]
    mentions = [
        Mention(platform="train", external_id=str(i), author_id="train", text=r.text,
                created_at=now, brands=["acme"])
        for i, r in enumerate(rows)
    ]  # fmt: skip
    scored = Enricher(model=tier.with_context(None)).enrich_batch(mentions)
    lexicon = TopicLexicon.load()
    return Labelled(
        rows=rows,
        writers=np.array([w for w, _ in written]),
        report=np.array([bool(r.expected) for r in rows]),
        gate_keeps=np.array([bool(set(s.topics) & critical) for s in scored]),
        named=np.array([bool(set(lexicon.match(r.text, r.language)) & critical) for r in rows]),
    )


def choose_threshold(
    p_report: np.ndarray, report: np.ndarray, gate_keeps: np.ndarray, keep_share: float = KEEP_SHARE
) -> float:
    """The highest grid threshold at which the head keeps `keep_share` of the gate's reports."""
    kept_reports = gate_keeps & report
    total = int(kept_reports.sum())
    best = 0.0
    for t in THRESHOLD_GRID:
        if total and (kept_reports & (p_report >= t)).sum() >= keep_share * total:
            best = t
    return best


def choose_rescue(p_report: np.ndarray, data: Labelled, threshold: float) -> float | None:
    """The lowest grid bar at which the posts the gate dropped and the head would keep are
    reports at least as often as the posts the service keeps (None: no such bar)."""
    kept = data.gate_keeps & (p_report >= threshold)
    if not kept.any():
        return None
    precision = (kept & data.report).sum() / kept.sum()
    dropped = data.named & ~data.gate_keeps
    for bar in RESCUE_GRID:
        rescued = dropped & (p_report >= bar)
        if rescued.any() and (rescued & data.report).sum() / rescued.sum() >= precision:
            return bar
    return None


def held_out_probabilities(x: np.ndarray, data: Labelled, encoder: str) -> np.ndarray:
    """Each row's report probability from a head trained without its writer."""
    out = np.zeros(len(data.rows), dtype=np.float32)
    for writer in sorted(set(data.writers)):
        train, test = data.writers != writer, data.writers == writer
        head = _fit(x[train], data.report[train], encoder, {})
        out[test] = head.probabilities(x[test])[:, 1]
    return out


def fold_figures(
    p_report: np.ndarray, data: Labelled, threshold: float, rescue: float | None
) -> dict[str, Any]:
    """Per writer: near misses and reports the gate keeps, before and after the head."""
    after = data.gate_keeps & (p_report >= threshold)
    if rescue is not None:  # what the gate dropped and the head brings back
        after |= data.named & ~data.gate_keeps & (p_report >= rescue)
    out: dict[str, Any] = {}
    for writer in [*sorted(set(data.writers)), "all"]:
        m = np.ones(len(data.rows), bool) if writer == "all" else data.writers == writer
        out[writer] = {
            "near_misses": int((m & ~data.report).sum()),
            "reports": int((m & data.report).sum()),
            "false_positives_gate": int((m & ~data.report & data.gate_keeps).sum()),
            "false_positives_with_head": int((m & ~data.report & after).sum()),
            "reports_kept_gate": int((m & data.report & data.gate_keeps).sum()),
            "reports_kept_with_head": int((m & data.report & after).sum()),
        }
    return out


def build_context_head(
    out_dir: Path | None = None, *, tier: ModelTier | None = None
) -> dict[str, Any]:
    """Choose the threshold leaving one writer out, fit on every row, write the head file."""
    started = time.perf_counter()
    if tier is None:
        from services.sentiment.encoders.use import UniversalSentenceEncoder

        tier = ModelTier.for_encoder(UniversalSentenceEncoder(), context=False)
    data = label(tier, training_rows())
    x = np.asarray(tier.encoder.encode([r.text for r in data.rows]), dtype=np.float32)
    p_held_out = held_out_probabilities(x, data, tier.encoder.name)
    threshold = choose_threshold(p_held_out, data.report, data.gate_keeps)
    rescue = choose_rescue(p_held_out, data, threshold)
    folds = fold_figures(p_held_out, data, threshold, rescue)
    meta = {
        "threshold": threshold,
        "rescue": rescue,
        "languages": sorted({r.language for r in data.rows}),
        "trained_on": "tools/train/context_posts (one writer per language) and the tune rows "
        "of tests/data/topic_context",
        "keep_share": KEEP_SHARE,
        "leave_one_writer_out": folds,
    }
    head = _fit(x, data.report, tier.encoder.name, meta)
    path = (
        context_head_path(tier.encoder.name, HEAD_DIR)
        if out_dir is None
        else out_dir / tier.encoder.name / CONTEXT_HEAD
    )
    head.save(path)
    return {
        "file": str(path),
        "rows": len(data.rows),
        "threshold": threshold,
        "rescue": rescue,
        "leave_one_writer_out": folds,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _fit(x: np.ndarray, report: np.ndarray, encoder: str, meta: dict[str, Any]) -> Head:
    labels = [REPORT if r else HARMLESS for r in report]
    return fit_head(x, labels, LABELS, encoder=encoder, meta=meta)
