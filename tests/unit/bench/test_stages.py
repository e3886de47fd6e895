"""Which bench stages run: the default set is unchanged, api-scale only when named in full."""

from __future__ import annotations

from tools.bench.runner import STAGES, selected_stages


def test_default_and_quick_runs_leave_out_the_scale_stage() -> None:
    assert list(selected_stages(None)) == list(STAGES)
    assert "api-scale" not in STAGES


def test_a_prefix_does_not_select_the_scale_stage() -> None:
    assert list(selected_stages(["api"])) == ["api"]


def test_the_scale_stage_runs_when_named() -> None:
    assert list(selected_stages(["api-scale"])) == ["api-scale"]
    assert list(selected_stages(["ingest", "api-scale"])) == ["ingest", "api-scale"]
