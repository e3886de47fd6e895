"""`eval topics`: does a crisis-topic match survive enrichment where it should, and only there?

Reads CSVs with `language,text,expected,split`: `expected` lists the crisis topics a row must
keep (space separated; empty for a near miss, which must keep none). `!topic` marks a known
false positive (a near miss all the same), `?topic` a known miss (a crisis all the same).
Every row goes through the real enrichment (`Enricher`, the shipped model tier) under four
configurations, so the effect of each part is visible: the bare lexicon, the idiom list
(with its laughter markers) only, the tone gate only, both, and `service`: both plus the
context head (`scorers.context_head`), which is what the service runs.
Per configuration and split, a row is a positive when it keeps at least one crisis topic;
precision and recall are of "this row raises a crisis-topic match" against "this row is a
crisis" (`expected` not empty).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.sentiment.core.context import ContextGate
from services.sentiment.core.enrich import Enricher, build_model_tier
from services.sentiment.core.idioms import IdiomMask
from services.sentiment.core.topics import TopicLexicon
from shared.contracts.topics import topic_contract
from shared.errors import BadInput
from shared.schemas import Mention
from shared.settings.sentiment import SentimentSettings

OPEN_GATE = ContextGate(max_score=1.0)  # every tone supports the match: no gate
SERVICE = "service"  # idioms + gate + the context head, as the service runs


@dataclass(frozen=True)
class Row:
    """One labelled sentence."""

    language: str
    text: str
    expected: frozenset[str]
    split: str


def load_rows(paths: Sequence[Path]) -> list[Row]:
    """Read the labelled CSVs (`language,text,expected,split`)."""
    rows: list[Row] = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"language", "text", "expected", "split"} - set(reader.fieldnames or ())
            if missing:
                raise BadInput(f"{path}: missing columns {sorted(missing)}")
            for line in reader:
                rows.append(
                    Row(
                        language=line["language"],
                        text=line["text"],
                        expected=frozenset(
                            t.lstrip("?") for t in line["expected"].split() if t[0] != "!"
                        ),
                        split=line["split"] or "all",
                    )
                )
    if not rows:
        raise BadInput("no rows to evaluate")
    return rows


def kept_topics(enricher: Enricher, rows: Sequence[Row]) -> list[set[str]]:
    """The crisis topics each row keeps after enrichment."""
    critical = set(topic_contract().crisis_topics)
    now = datetime.now(UTC)
    mentions = [
        Mention(platform="eval", external_id=str(i), author_id="eval", text=row.text,
                created_at=now, brands=["acme"])
        for i, row in enumerate(rows)
    ]  # fmt: skip
    return [set(s.topics) & critical for s in enricher.enrich_batch(mentions)]


def score(rows: Sequence[Row], kept: Sequence[set[str]]) -> dict[str, Any]:
    """Counts, precision and recall of crisis-topic matches, plus the rows that went wrong."""
    tp = fp = fn = tn = 0
    wrong: list[str] = []
    for row, topics in zip(rows, kept, strict=True):
        crisis = bool(row.expected)
        raised = bool(topics) if not crisis else row.expected <= topics
        if crisis and raised:
            tp += 1
        elif crisis:
            fn += 1
            wrong.append(f"missed {sorted(row.expected)}: {row.text}")
        elif topics:
            fp += 1
            wrong.append(f"raised {sorted(topics)}: {row.text}")
        else:
            tn += 1
    return {
        "crises": tp + fn,
        "near_misses": fp + tn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "wrong": wrong,
    }


def run_topics_eval(paths: Sequence[Path]) -> dict[str, Any]:
    """Score every configuration on every split of the files."""
    rows = load_rows(paths)
    service = build_model_tier(SentimentSettings())
    model = service.with_context(None) if service is not None else None
    bare = TopicLexicon(topic_contract())
    with_idioms = TopicLexicon(topic_contract(), IdiomMask.load())
    configs = {
        "lexicon": Enricher(model=model, topics=bare, gate=OPEN_GATE),
        "idioms": Enricher(model=model, topics=with_idioms, gate=OPEN_GATE),
        "gate": Enricher(model=model, topics=bare),
        "idioms+gate": Enricher(model=model, topics=with_idioms),
        SERVICE: Enricher(model=service, topics=with_idioms),
    }
    splits = sorted({row.split for row in rows})
    out: dict[str, Any] = {}
    for name, enricher in configs.items():
        kept = kept_topics(enricher, rows)
        out[name] = {
            split: score(
                [r for r in rows if r.split == split],
                [k for r, k in zip(rows, kept, strict=True) if r.split == split],
            )
            for split in splits
        }
    return out


def print_summary(result: dict[str, Any]) -> None:
    """One line per configuration and split, the misses of the service's one, then JSON."""
    for name, splits in result.items():
        for split, s in splits.items():
            print(
                f"{name:12} {split:9} precision {s['precision']}  recall {s['recall']}  "
                f"(tp {s['tp']} fp {s['fp']} fn {s['fn']} of {s['crises']} crises, "
                f"{s['near_misses']} near misses)"
            )
    for split, s in result[SERVICE].items():
        for line in s["wrong"]:
            print(f"  {split}: {line}")
    summary = {
        name: {split: {k: s[k] for k in ("precision", "recall", "tp", "fp", "fn")}
               for split, s in splits.items()}
        for name, splits in result.items()
    }  # fmt: skip
    print(json.dumps(summary))
