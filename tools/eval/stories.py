"""`eval stories`: cluster a `text,created_at,story[,language]` CSV online and score it.

Strictly online: mentions are assigned in time order, each from what came before it, with
the service's clustering parameters; the `story` column is read only for scoring.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from services.sentiment.core.entities import extract_entities
from services.sentiment.core.keywords import extract_hashtags
from services.sentiment.core.places import with_places
from services.sentiment.core.stories import StoryClusterer, StoryMention, StoryParams, extract_urls
from shared.errors import BadInput

COVER = 0.8  # fragmentation: clusters needed to cover this share of a story's mentions
_BRAND = "eval"


@dataclass(frozen=True)
class Labelled:
    """One row of a stories CSV."""

    text: str
    at: float  # seconds since the epoch
    story: str
    language: str = ""


def _epoch(value: str) -> float:
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()


def read_stories(path: Path) -> list[Labelled]:
    """Rows of `path` in time order (stable for equal times); `BadInput` on a bad file."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"text", "created_at", "story"} - set(reader.fieldnames or ())
        if missing:
            raise BadInput(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        try:
            rows = [
                Labelled(
                    row["text"], _epoch(row["created_at"]), row["story"], row.get("language") or ""
                )
                for row in reader
            ]
        except ValueError as exc:
            raise BadInput(f"{path}: line {reader.line_num}: bad created_at ({exc})") from exc
    return sorted(rows, key=lambda r: r.at)


def story_inputs(rows: Sequence[Labelled], vectors: np.ndarray) -> list[StoryMention]:
    """The clusterer's view of each row (links and hashtags read from the text)."""
    return [
        StoryMention(
            key=str(i),
            brand=_BRAND,
            at=row.at,
            vector=vectors[i],
            hashtags=tuple(t.lower() for t in extract_hashtags(row.text)),
            urls=tuple(extract_urls(row.text)),
            entities=with_places(extract_entities(row.text)),
        )
        for i, row in enumerate(rows)
    ]


def bcubed(truth: Sequence[str], found: Sequence[str]) -> tuple[float, float]:
    """B-cubed precision and recall of clustering `found` against classes `truth`."""
    pairs = Counter(zip(truth, found, strict=True))
    per_class, per_cluster = Counter(truth), Counter(found)
    n = len(truth)
    if not n:
        return 0.0, 0.0
    precision = sum(c * c / per_cluster[k] for (_, k), c in pairs.items()) / n
    recall = sum(c * c / per_class[t] for (t, _), c in pairs.items()) / n
    return precision, recall


def fragmentation(truth: Sequence[str], found: Sequence[str], cover: float = COVER) -> float:
    """Mean number of clusters needed to cover `cover` of each true story's mentions."""
    by_story: dict[str, Counter[str]] = defaultdict(Counter)
    for t, k in zip(truth, found, strict=True):
        by_story[t][k] += 1
    needed = []
    for counts in by_story.values():
        goal, total, clusters = math.ceil(cover * sum(counts.values())), 0, 0
        for _, c in counts.most_common():
            total, clusters = total + c, clusters + 1
            if total >= goal:
                break
        needed.append(clusters)
    return sum(needed) / len(needed) if needed else 0.0


def score(truth: Sequence[str], found: Sequence[str]) -> dict[str, Any]:
    """The summary `eval stories` prints (without timing)."""
    precision, recall = bcubed(truth, found)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": len(truth),
        "stories": len(set(truth)),
        "clusters": len(set(found)),
        "bcubed_precision": round(precision, 4),
        "bcubed_recall": round(recall, 4),
        "bcubed_f1": round(f1, 4),
        "ari": round(float(adjusted_rand_score(truth, found)), 4) if truth else 0.0,
        "fragmentation": round(fragmentation(truth, found), 3),
    }


def cluster(
    rows: Sequence[Labelled], vectors: np.ndarray, params: StoryParams | None = None
) -> tuple[list[str], float]:
    """Story ids of `rows` (in order) and the clusterer's rate in mentions per second.

    A mention keeps the story it joined on arrival; stories that later merged count as the
    story they merged into (as the stories table records it).
    """
    inputs = story_inputs(rows, vectors)
    clusterer = StoryClusterer(params, dim=vectors.shape[1] if len(vectors) else 512)
    started = time.perf_counter()
    assignments = clusterer.assign_all(inputs)
    elapsed = time.perf_counter() - started
    into: dict[str, str] = {}
    for a in assignments:
        for old in a.merged:
            into[old] = a.story_id
    return [resolve(a.story_id, into) for a in assignments], (
        len(rows) / elapsed if elapsed > 0 else 0.0
    )


def resolve(story_id: str, into: dict[str, str]) -> str:
    """The story `story_id` ended up in, following merges."""
    while story_id in into:
        story_id = into[story_id]
    return story_id


def encode(texts: Sequence[str]) -> np.ndarray:
    """Sentence vectors of `texts` with the sentiment service's encoder."""
    from services.sentiment.encoders.use import UniversalSentenceEncoder

    encoder = UniversalSentenceEncoder()
    return np.vstack([encoder.encode(texts[i : i + 256]) for i in range(0, len(texts), 256)])


def run_stories_eval(path: Path, params: StoryParams | None = None) -> dict[str, Any]:
    """Cluster the CSV at `path` online and return the summary."""
    rows = read_stories(path)
    vectors = encode([r.text for r in rows])
    found, rate = cluster(rows, vectors, params)
    summary = score([r.story for r in rows], found)
    summary["mentions_per_s"] = round(rate)
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    """The summary as the last stdout line."""
    print(json.dumps(summary))
