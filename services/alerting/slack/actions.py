"""A click on an incident message, run through the one incident lifecycle (`work.py`).

The Slack user is the actor (`slack:<user id>:<name>`) in the timeline and the audit log,
exactly as an API key is for the HTTP routes; an illegal transition raises `Conflict`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.incidents import work
from services.alerting.incidents.schemas import IncidentRead
from services.alerting.slack.blocks import DISMISS_REASONS, ROOM_ACTION, SNOOZES
from shared.errors import BadInput

_ID = r"^[A-Z0-9]{1,32}$"


class SlackUser(BaseModel):
    """Who clicked (Slack sends `username` and, in newer payloads, `name`)."""

    id: str = Field(pattern=_ID)
    username: str = Field(default="", max_length=80)
    name: str = Field(default="", max_length=80)

    @property
    def actor(self) -> str:
        """The actor of timeline and audit entries."""
        return f"slack:{self.id}:{self.username or self.name}"[:128]


class SelectedOption(BaseModel):
    """The chosen option of a select menu."""

    value: str = Field(max_length=200)


class Action(BaseModel):
    """One element the user interacted with."""

    action_id: str = Field(max_length=255)
    value: str | None = Field(default=None, max_length=2000)
    selected_option: SelectedOption | None = None


class BlockActions(BaseModel):
    """The part of a `block_actions` payload this endpoint uses."""

    type: str
    user: SlackUser
    actions: list[Action] = Field(min_length=1)
    response_url: str | None = Field(default=None, max_length=2000)
    message: dict[str, Any] = Field(default_factory=dict)


def parse_payload(form: Mapping[str, str]) -> BlockActions:
    """Decode the form field `payload` (JSON); raise `BadInput` when it is unusable."""
    raw = form.get("payload")
    if not raw:
        raise BadInput("form field 'payload' is missing")
    try:
        payload = BlockActions.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise BadInput(f"unusable Slack payload: {str(exc).splitlines()[0]}") from exc
    if payload.type != "block_actions":
        raise BadInput(f"unsupported Slack interaction type {payload.type!r}")
    return payload


def _incident_id(text: str | None) -> int:
    if not text or not text.isdigit() or len(text) > 18:
        raise BadInput("the action carries no incident id")
    return int(text)


async def run_action(
    session: AsyncSession, action: Action, user: SlackUser
) -> tuple[IncidentRead, str] | None:
    """Apply one click; return the incident and what happened, or None for a link button."""
    actor = user.actor
    aid = action.action_id
    if aid == ROOM_ACTION:
        return None  # Slack reports clicks on link buttons too; the browser opened the room.
    if aid == "cw_dismiss":
        choice = action.selected_option.value if action.selected_option else ""
        raw_id, _, code = choice.partition("|")
        if code not in DISMISS_REASONS:
            raise BadInput(f"unknown dismissal reason {code!r}")
        reason = DISMISS_REASONS[code]
        incident_id = _incident_id(raw_id)
        read = await work.dismiss(session, incident_id=incident_id, reason=reason, actor=actor)
        return read, f"dismissed it as a false positive ({reason})"
    incident_id = _incident_id(action.value)
    if aid == "cw_ack":
        read = await work.acknowledge(session, incident_id=incident_id, actor=actor)
        return read, "acknowledged"
    if aid == "cw_take":
        read = await work.assign(session, incident_id=incident_id, owner=actor, actor=actor)
        return read, "took it (owner)"
    if aid in SNOOZES:
        minutes = SNOOZES[aid]
        read = await work.snooze(session, incident_id=incident_id, minutes=minutes, actor=actor)
        return read, f"snoozed it for {minutes // 60} h"
    if aid == "cw_escalate":
        read = await work.escalate(session, incident_id=incident_id, actor=actor)
        return read, f"escalated it to {read.severity}"
    if aid == "cw_resolve":
        read = await work.resolve(
            session, incident_id=incident_id, resolution="resolved from Slack", actor=actor
        )
        return read, "resolved"
    raise BadInput(f"unknown action {aid!r}")
