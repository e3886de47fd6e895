"""Leave-one-series-out choice of the sustained settings: each fold is chosen on the others."""

from __future__ import annotations

from datetime import UTC, datetime

from tools.eval.benchmark import FAMILIES, NAB, Tally
from tools.eval.sustained_choice import CANDIDATES, WARMUP_CANDIDATES, folds

FAMS = (NAB, *FAMILIES)


def _tallies(caught: int, false: int) -> dict[str, Tally]:
    return {f: Tally(caught=caught, cases=6, false=false, weeks=10.0) for f in FAMS}


def test_each_fold_is_chosen_on_the_other_series_only() -> None:
    """Candidate 1 wins through A; holding A out, B and C pick candidate 0."""
    names = ("A", "B", "C")
    dev = {n: ([(datetime(2024, 1, 1, tzinfo=UTC), 0.0)], []) for n in names}
    results = {
        0: {"A": _tallies(2, 0), "B": _tallies(4, 0), "C": _tallies(4, 0)},
        1: {"A": _tallies(6, 0), "B": _tallies(3, 0), "C": _tallies(3, 0)},
        # Catches everything but pages 2 times a week: over the 0.5 budget everywhere.
        2: {n: _tallies(6, 20) for n in names},
    }
    cands = ({"threshold": 10.0}, {"threshold": 8.0}, {"threshold": 1.0})
    rows = {r["held_out"]: r for r in folds(dev, results, cands)}  # type: ignore[arg-type]
    assert rows["A"]["chosen"] == {"threshold": 10.0}
    assert rows["A"]["slow_burn"]["caught"] == 2  # measured on A alone
    assert rows["B"]["chosen"] == {"threshold": 8.0}  # A (6) + C (3) beat 0's A (2) + C (4)
    assert rows["B"]["slow_burn"]["caught"] == 3
    last = rows["none (choice on every series: the shipped default)"]
    assert last["chosen"] == {"threshold": 8.0} and last["slow_burn"]["caught"] == 12


def test_the_grid_holds_the_previous_default_and_the_shipped_choice() -> None:
    assert {"ratios": (2.0,), "guard_hours": 24, "centered": False, "threshold": 10.0} in (
        CANDIDATES
    )
    shipped = {"ratios": (1.5, 2.0, 3.0), "guard_hours": 12, "run_hours": 6, "threshold": 12.0}
    assert shipped in CANDIDATES


def test_the_warm_up_round_holds_the_shipped_settings_against_the_change_spreads() -> None:
    assert WARMUP_CANDIDATES[0] == {}  # the shipped settings, unchanged
    rest = WARMUP_CANDIDATES[1:]
    assert rest and all(c["change_spreads"] is True for c in rest)
    assert {c["threshold"] for c in rest} == {9.0, 10.0, 11.0, 12.0}
