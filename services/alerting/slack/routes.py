"""HTTP edge of Slack interactivity: `POST /v1/slack/actions` and `POST /v1/slack/commands`.

Slack authenticates with its signature, not an API key: every request must carry a fresh
v0 signature by `slack_signing_secret` that was never used before, else 401. Whoever can
click in the channel the app posts to acts as a responder; the Slack user is the actor.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response

from services.alerting.slack.actions import parse_payload, run_action
from services.alerting.slack.blocks import updated_message
from services.alerting.slack.commands import answer_command
from services.alerting.slack.replay import remember
from services.alerting.slack.respond import post_response
from services.alerting.slack.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SlackRequestRefused,
    verify,
)
from shared.db.engine import transaction
from shared.errors import BadInput, Conflict, NotFound
from shared.http.deps import ApiSettingsDep, EngineDep
from shared.http.openapi import Problem
from shared.settings.api import ApiSettings

router = APIRouter(prefix="/slack", tags=["slack"])
_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "unsigned, forged, stale or replayed request"}
}


async def _verified_form(request: Request, settings: ApiSettings, engine: Any) -> dict[str, str]:
    """The form fields of a request proven to come from Slack, seen for the first time."""
    secret = settings.slack_signing_secret
    if secret is None:
        raise HTTPException(401, "Slack interactivity is off: slack_signing_secret is not set")
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        verify(
            secret.get_secret_value().encode(),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            body=body,
            signature=signature,
            now=time.time(),
        )
        async with transaction(engine) as session:
            await remember(session, signature or "")
    except SlackRequestRefused as exc:
        raise HTTPException(401, str(exc)) from None
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=64))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput("the body is not a form-encoded Slack request") from exc


@router.post(
    "/actions",
    summary="Slack interactivity: a button or menu of an incident message (Slack signature)",
    description="Form-encoded `payload=` JSON of type `block_actions`. Runs the action through "
    "the incident lifecycle as the Slack user, then updates the message via `response_url`; "
    "an action the status does not allow is answered to the user alone.",
    status_code=200,
    response_class=Response,
    responses=_REFUSED,
)
async def slack_actions(
    request: Request, settings: ApiSettingsDep, engine: EngineDep, background: BackgroundTasks
) -> Response:
    """Handle one interaction."""
    payload = parse_payload(await _verified_form(request, settings, engine))
    hosts = settings.slack_response_hosts
    allow_http = settings.slack_response_allow_http
    reply: dict[str, Any] | None = None
    try:
        async with transaction(engine) as session:
            outcome = await run_action(session, payload.actions[0], payload.user)
    except (Conflict, NotFound) as exc:
        reply = {"response_type": "ephemeral", "replace_original": False, "text": str(exc)}
    else:
        if outcome is not None:
            read, what = outcome
            reply = updated_message(
                payload.message,
                incident_id=read.id,
                status=read.status,
                severity=read.severity,
                what=what,
                user_id=payload.user.id,
                at=datetime.now(UTC),
            )
    if reply is not None and payload.response_url:
        background.add_task(
            post_response, payload.response_url, reply, hosts=hosts, allow_http=allow_http
        )
    return Response(status_code=200)


@router.post(
    "/commands",
    summary="Slack slash command `/crisiswatch <brand>` (Slack signature)",
    description="Answers (to the caller alone) the brand's open incidents and its mentions and "
    "sentiment in the last 24 hours.",
    responses=_REFUSED,
)
async def slack_commands(
    request: Request, settings: ApiSettingsDep, engine: EngineDep
) -> dict[str, Any]:
    """Answer one slash command."""
    form = await _verified_form(request, settings, engine)
    async with transaction(engine) as session:
        return await answer_command(session, form)
