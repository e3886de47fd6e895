"""The one incident lifecycle: its statuses, which action starts from which, its errors."""

from __future__ import annotations

from services.alerting.incidents.schemas import INCIDENT_STATUSES
from services.alerting.incidents.work import TRANSITIONS, IncidentNotFound
from shared.errors import NotFound


def test_statuses() -> None:
    assert INCIDENT_STATUSES == ("open", "acknowledged", "snoozed", "resolved")


def test_transitions_start_from_known_statuses_and_resolved_is_final() -> None:
    assert set(TRANSITIONS) == {
        "acknowledge",
        "snooze",
        "resolve",
        "assign",
        "escalate",
        "dismiss",
    }
    for action, sources in TRANSITIONS.items():
        assert sources <= set(INCIDENT_STATUSES), action
        # Only the verdict may come after the resolution: it changes no status.
        assert ("resolved" in sources) == (action == "dismiss"), action


def test_missing_incident_is_a_not_found() -> None:
    assert issubclass(IncidentNotFound, NotFound)
