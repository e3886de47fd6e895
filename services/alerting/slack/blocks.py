"""The buttons of an incident message and the message after a responder's action, pure.

Action ids name the action (`cw_ack`, ...); the value carries the incident id (the dismiss
menu's options carry `<id>|<reason code>`). After an action the message keeps its content:
the buttons are rebuilt for the new status, the Status and Severity fields are updated and
a context line records who did what.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

ACTIONS_BLOCK = "cw_actions"
STATUS_BLOCK = "cw_status"
ROOM_ACTION = "cw_room"
SNOOZES = {"cw_snooze_60": 60, "cw_snooze_240": 240}
# Why a responder calls an incident a false positive; the code travels, the label is stored.
DISMISS_REASONS: dict[str, str] = {
    "campaign": "planned campaign or event",
    "wrong_brand": "mentions are not about the brand",
    "spam": "bot or spam wave",
    "handled": "already handled elsewhere",
    "noise": "normal chatter, threshold too sensitive",
}
_MAX_CONTEXT_ELEMENTS = 10  # Block Kit's limit per context block


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _room_button(url: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": ROOM_ACTION,
        "text": {"type": "plain_text", "text": "Open incident room"},
        "url": url,
    }


def action_elements(incident_id: int, status: str, room_url: str | None) -> list[dict[str, Any]]:
    """The interactive elements for an incident in `status` (only the room once resolved)."""
    value = str(incident_id)
    elements: list[dict[str, Any]] = []
    if status != "resolved":
        if status != "acknowledged":
            elements.append(_button("cw_ack", "Acknowledge", value, "primary"))
        elements += [
            _button("cw_take", "Take it", value),
            _button("cw_snooze_60", "Snooze 1 h", value),
            _button("cw_snooze_240", "Snooze 4 h", value),
            _button("cw_escalate", "Escalate", value),
            _button("cw_resolve", "Resolve", value),
            {
                "type": "static_select",
                "action_id": "cw_dismiss",
                "placeholder": {"type": "plain_text", "text": "Dismiss as false positive"},
                "options": [
                    {"text": {"type": "plain_text", "text": label}, "value": f"{value}|{code}"}
                    for code, label in DISMISS_REASONS.items()
                ],
            },
        ]
    if room_url:
        elements.append(_room_button(room_url))
    return elements


def actions_block(incident_id: int, status: str, room_url: str | None) -> dict[str, Any] | None:
    """The actions block of an incident message, or None when nothing is left to click."""
    elements = action_elements(incident_id, status, room_url)
    if not elements:
        return None
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


def room_url_of(blocks: list[dict[str, Any]]) -> str | None:
    """The incident room link of a message built by `actions_block`, if any."""
    for block in blocks:
        if block.get("block_id") == ACTIONS_BLOCK:
            for element in block.get("elements", []):
                if element.get("action_id") == ROOM_ACTION and element.get("url"):
                    return str(element["url"])
    return None


def _set_field(block: dict[str, Any], name: str, value: str) -> None:
    for field in block.get("fields", []):
        text = field.get("text", "")
        if isinstance(text, str) and text.startswith(f"*{name}*\n"):
            field["text"] = f"*{name}*\n{value}"


def updated_message(
    message: dict[str, Any],
    *,
    incident_id: int,
    status: str,
    severity: str,
    what: str,
    user_id: str,
    at: datetime,
) -> dict[str, Any]:
    """The message after an action: new buttons, current status, and who did `what`."""
    blocks: list[dict[str, Any]] = copy.deepcopy(list(message.get("blocks") or []))
    room_url = room_url_of(blocks)
    history: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("block_id") == STATUS_BLOCK:
            history = list(block.get("elements", []))
        elif block.get("block_id") != ACTIONS_BLOCK:
            _set_field(block, "Status", status)
            _set_field(block, "Severity", severity)
            kept.append(block)
    line = f"<@{user_id}> {what} at {at:%H:%M} UTC"
    history = [*history, {"type": "mrkdwn", "text": line}][-_MAX_CONTEXT_ELEMENTS:]
    new_actions = actions_block(incident_id, status, room_url)
    if new_actions is not None:
        kept.append(new_actions)
    kept.append({"type": "context", "block_id": STATUS_BLOCK, "elements": history})
    text = str(message.get("text") or f"incident #{incident_id}")
    return {"replace_original": True, "text": text, "blocks": kept}
