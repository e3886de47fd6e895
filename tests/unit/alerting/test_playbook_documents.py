"""A playbook stored or exported as a document reads back as the same playbook."""

from __future__ import annotations

import yaml

from services.alerting.playbooks.loader import default_playbooks
from services.alerting.playbooks.models import Playbook
from services.alerting.playbooks.store import as_document


def test_every_packaged_playbook_round_trips_through_its_document() -> None:
    for name, book in default_playbooks().items():
        document = as_document(book)
        assert Playbook.model_validate(document) == book, name
        assert Playbook.model_validate(yaml.safe_load(yaml.safe_dump(document))) == book, name
        assert all(step["due_after"].endswith("m") for step in document["steps"])
