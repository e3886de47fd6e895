"""Response playbooks: YAML definitions per crisis category, validated, and their runs."""

from services.alerting.playbooks.loader import load_playbook, load_playbooks, playbook_for
from services.alerting.playbooks.models import Playbook, PlaybookStep
from services.alerting.playbooks.runs import overdue_steps, start_playbook_run

__all__ = [
    "Playbook",
    "PlaybookStep",
    "load_playbook",
    "load_playbooks",
    "overdue_steps",
    "playbook_for",
    "start_playbook_run",
]
