"""`eval stories` metrics on hand-checked clusterings."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import BadInput
from tools.eval.stories import bcubed, fragmentation, read_stories, score


def test_perfect_clustering_scores_one() -> None:
    summary = score(["a", "a", "b"], ["x", "x", "y"])
    assert summary["bcubed_f1"] == 1.0 and summary["ari"] == 1.0
    assert summary["fragmentation"] == 1.0 and summary["clusters"] == 2


def test_bcubed_by_hand() -> None:
    # one cluster holding everything: precision (2*2/3*... ) = (4/3 + 1/3)/3 per item
    precision, recall = bcubed(["a", "a", "b"], ["x", "x", "x"])
    assert precision == pytest.approx((2 * (2 / 3) + 1 / 3) / 3)
    assert recall == 1.0


def test_fragmentation_counts_clusters_to_cover_80_percent() -> None:
    truth = ["a"] * 10 + ["b"] * 5
    found = ["x"] * 6 + ["y"] * 2 + ["z"] * 2 + ["w"] * 5
    # a: 6 then 8 of 10 -> 2 clusters; b: 1 cluster
    assert fragmentation(truth, found) == 1.5


def test_rows_are_read_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "text,created_at,story,language\nlater,2024-01-01T10:00:00Z,a,en\n"
        "earlier,1704000000,b,es\n",
        encoding="utf-8",
    )
    rows = read_stories(path)
    assert [r.text for r in rows] == ["earlier", "later"] and rows[0].language == "es"


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("text,story\nx,a\n", encoding="utf-8")
    with pytest.raises(BadInput, match="created_at"):
        read_stories(path)
    path.write_text("text,created_at,story\nx,yesterday,a\n", encoding="utf-8")
    with pytest.raises(BadInput, match="line 2: bad created_at"):
        read_stories(path)
