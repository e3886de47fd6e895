"""One thread per incident and channel: its first message opens it, every update replies.

The first Slack message of an incident is its thread's opening (the Web API notifier posts
the later ones as replies under it). The first email's Message-ID and subject are stored on
the incident (`details.threads`), so every later email carries `In-Reply-To`/`References`
to it and the same subject with "Re:", and mail clients show one conversation.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.db.models import IncidentRow


def message_id(idempotency_key: str) -> str:
    """The Message-ID of a notification: derived from its outbox key, so a resend repeats it."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@crisiswatch>"


def reply_subject(subject: str) -> str:
    """`subject` as a reply: one "Re: " in front."""
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def threaded(
    incident: IncidentRow | None,
    channel: str,
    payload: dict[str, Any],
    *,
    broadcast: bool = False,
) -> dict[str, Any]:
    """`payload` placed in the incident's thread on `channel` (opening it when none is);
    a `broadcast` Slack reply is also shown in the channel."""
    if incident is None:
        return payload
    held = (incident.details or {}).get("threads", {}).get(channel)
    if channel == "slack":
        thread = {"incident": incident.id, "opening": held is None}
        return {**payload, "thread": {**thread, "broadcast": True} if broadcast else thread}
    if channel != "email" or not isinstance(held, dict):
        return payload
    root = str(held["message_id"])
    return {
        **payload,
        "subject": reply_subject(str(held.get("subject") or payload["subject"])),
        "in_reply_to": root,
        "references": root,
    }


def note_thread(
    incident: IncidentRow | None, channel: str, payload: dict[str, Any], *, dedupe_key: str
) -> None:
    """Remember the opening of the incident's thread on `channel` (once, the first message)."""
    if incident is None or channel not in ("slack", "email"):
        return
    details = incident.details or {}
    threads = dict(details.get("threads", {}))
    if channel in threads:
        return
    if channel == "email":
        threads[channel] = {"message_id": message_id(dedupe_key), "subject": payload["subject"]}
    else:
        threads[channel] = {"opening_key": dedupe_key}
    incident.details = {**details, "threads": threads}
