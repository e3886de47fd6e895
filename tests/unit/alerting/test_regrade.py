"""The refreshed projection's severity step: one level up when the story is projected to keep
3x its usual volume, once."""

from __future__ import annotations

from services.alerting.incidents.regrade import projected_reason, raised_level


def test_a_story_projected_to_keep_three_times_usual_is_one_level_more_severe() -> None:
    assert raised_level("SEV3", 3.2, [], raised_before=False) == "SEV2"
    assert raised_level("SEV4", 3.0, ["volume 4.0x its usual level"], raised_before=False) == (
        "SEV3"
    )


def test_a_decline_or_a_modest_rise_changes_nothing() -> None:
    assert raised_level("SEV2", 0.4, [], raised_before=False) is None
    assert raised_level("SEV2", 2.9, [], raised_before=False) is None
    assert raised_level("SEV2", None, [], raised_before=False) is None


def test_the_step_is_taken_once_and_never_above_sev1() -> None:
    assert raised_level("SEV2", 5.0, [], raised_before=True) is None
    assert raised_level("SEV1", 5.0, [], raised_before=False) is None
    signal_step = [projected_reason(3.5)]
    assert raised_level("SEV2", 5.0, signal_step, raised_before=False) is None
    assert projected_reason(3.46) == "projected to run at 3.5x its usual volume over the next 6 h"
    # A signal graded under the step's older wording took the step too.
    old_step = ["projected to reach 3.5x its last hour's pace in 6 h"]
    assert raised_level("SEV2", 5.0, old_step, raised_before=False) is None
