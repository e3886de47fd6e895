"""HTTP edge of the incident room: browser pages outside `/v1`, signed in by session cookie.

`GET /incidents/{id}?t=<link token>` turns a notification's sign-in link into a session and
redirects to the bare URL; `GET /incidents/login` + `POST` sign in with an API key. Every
action goes through the incident lifecycle (`incidents/work.py`) and the playbook step
update, as the session's actor. Pages are not cached, not framed and send no referrer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from services.alerting.incidents import work
from services.alerting.incidents.work import IncidentNotFound
from services.alerting.playbooks.work import StepUpdate, update_step
from services.alerting.room import data, render, session
from services.alerting.room.render import COPY_SCRIPT
from services.alerting.room.tokens import Claims, read
from services.alerting.schemas import Id
from services.alerting.slack.blocks import DISMISS_REASONS, SNOOZES
from shared.db.models import PlaybookRunRow, PlaybookStepRow
from shared.errors import Conflict, NotFound
from shared.http.deps import ApiSettingsDep, SessionDep
from shared.http.keys import authenticate

router = APIRouter(prefix="/incidents", include_in_schema=False)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(COPY_SCRIPT.encode()).digest()).decode()
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
}
_ACTIONS = {"acknowledge", "take", "escalate", "resolve", "dismiss", "snooze_60", "snooze_240"}


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def _sign_in(next_url: str, message: str | None = None, status: int = 401) -> HTMLResponse:
    return _html(render.login_page(next_url=next_url, message=message), status)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=16))
    except (UnicodeDecodeError, ValueError):
        return {}


@router.get("/login")
async def login_form(next: Annotated[str, Query(max_length=200)] = "/incidents") -> HTMLResponse:
    """The API-key sign-in form."""
    return _sign_in(next, status=200)


@router.post("/login")
async def login(request: Request, db: SessionDep, settings: ApiSettingsDep) -> Response:
    """Sign in with an API key typed into the form: a session with the key's role."""
    form = await _form(request)
    next_url = form.get("next", "/incidents")
    if not next_url.startswith("/incidents") or next_url.startswith("//"):
        next_url = "/incidents"
    key = form.get("api_key", "").strip()
    principal = await authenticate(db, key) if 0 < len(key) <= 256 else None
    if principal is None or principal.role == "ingest":
        return _sign_in(next_url, "That key is not valid here (unknown, revoked or ingest-only).")
    response = _redirect(next_url)
    session.start(response, settings, role=principal.role, scope="*", actor=principal.actor)
    return response


@router.post("/logout")
async def logout() -> Response:
    """End the session."""
    response = _redirect("/incidents/login")
    session.end(response)
    return response


@router.get("")
async def overview(request: Request, db: SessionDep, settings: ApiSettingsDep) -> Response:
    """The open incidents and each brand's last 24 hours (a session for every incident)."""
    claims = await session.current(request, db, settings)
    if claims is None or not claims.covers(None):
        return _sign_in("/incidents")
    incidents = await data.open_incidents(db)
    brands = await data.brands_day(db, now=datetime.now(UTC))
    return _html(render.overview_page(incidents, brands, who=f"{claims.actor} ({claims.role})"))


@router.get("/{incident_id}")
async def incident_room(
    request: Request,
    db: SessionDep,
    settings: ApiSettingsDep,
    incident_id: Id,
    t: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response:
    """The room of one incident; a link token signs the reader in first."""
    claims = await session.current(request, db, settings)
    here = f"/incidents/{incident_id}"
    if t is not None:
        link = read(session.secret(settings), t, kind="link", now=time.time())
        if link is None or not link.covers(incident_id):
            return _sign_in(here, "This sign-in link has expired or is not valid.")
        response = _redirect(here)
        if not session.outranks(claims, link.role, incident_id):
            session.start(response, settings, role=link.role, scope=link.scope, actor=link.actor)
        return response
    if claims is None or not claims.covers(incident_id):
        return _sign_in(here)
    return await _room(request, db, settings, claims, incident_id)


async def _room(
    request: Request,
    db: SessionDep,
    settings: ApiSettingsDep,
    claims: Claims,
    incident_id: int,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    try:
        room = await data.room(db, incident_id=incident_id)
    except IncidentNotFound:
        return _html(render.page("Not found", "<h1>No such incident</h1>"), 404)
    page = render.room_page(
        room,
        role=claims.role,
        who=claims.actor,
        form_token=session.form_token_of(request, settings),
        notice=notice,
    )
    return _html(page, status)


async def _acting(
    request: Request, db: SessionDep, settings: ApiSettingsDep, incident_id: int
) -> tuple[Claims | None, dict[str, str], Response | None]:
    """The session and form of a state-changing request, or the refusal to answer."""
    claims = await session.current(request, db, settings)
    form = await _form(request)
    if claims is None or not claims.covers(incident_id):
        return None, form, _sign_in(f"/incidents/{incident_id}")
    expected = session.form_token_of(request, settings)
    if not hmac.compare_digest(form.get("form_token", ""), expected):
        return None, form, _html(render.page("Refused", "<h1>Form expired: reload</h1>"), 403)
    if not session.may_act(claims):
        body = "<h1>Viewers cannot act</h1><p>Sign in with a responder key.</p>"
        return None, form, _html(render.page("Refused", body), 403)
    return claims, form, None


@router.post("/{incident_id}/act")
async def act(
    request: Request, db: SessionDep, settings: ApiSettingsDep, incident_id: Id
) -> Response:
    """Acknowledge, take, snooze, escalate, resolve or dismiss, as the session's actor."""
    claims, form, refusal = await _acting(request, db, settings, incident_id)
    if refusal is not None or claims is None:
        return refusal or _sign_in(f"/incidents/{incident_id}")
    action, actor = form.get("action", ""), claims.actor
    try:
        if action not in _ACTIONS:
            raise Conflict(f"unknown action {action!r}")
        if action == "acknowledge":
            await work.acknowledge(db, incident_id=incident_id, actor=actor)
        elif action == "take":
            await work.assign(db, incident_id=incident_id, owner=actor, actor=actor)
        elif action == "escalate":
            await work.escalate(db, incident_id=incident_id, actor=actor)
        elif action == "resolve":
            await work.resolve(db, incident_id=incident_id, resolution=None, actor=actor)
        elif action == "dismiss":
            reason = DISMISS_REASONS.get(form.get("reason", ""))
            if reason is None:
                raise Conflict("choose a dismissal reason")
            await work.dismiss(db, incident_id=incident_id, reason=reason, actor=actor)
        else:
            minutes = SNOOZES[f"cw_{action}"]
            await work.snooze(db, incident_id=incident_id, minutes=minutes, actor=actor)
    except IncidentNotFound:
        return _html(render.page("Not found", "<h1>No such incident</h1>"), 404)
    except Conflict as exc:
        return await _room(request, db, settings, claims, incident_id, str(exc), 409)
    return _redirect(f"/incidents/{incident_id}")


@router.post("/{incident_id}/steps/{step_id}")
async def tick_step(
    request: Request, db: SessionDep, settings: ApiSettingsDep, incident_id: Id, step_id: Id
) -> Response:
    """Mark a playbook step of this incident done."""
    claims, _, refusal = await _acting(request, db, settings, incident_id)
    if refusal is not None or claims is None:
        return refusal or _sign_in(f"/incidents/{incident_id}")
    owner = await db.scalar(
        select(PlaybookRunRow.incident_id)
        .join(PlaybookStepRow, PlaybookStepRow.run_id == PlaybookRunRow.id)
        .where(PlaybookStepRow.id == step_id)
    )
    if owner != incident_id:
        return _html(render.page("Not found", "<h1>No such step here</h1>"), 404)
    try:
        await update_step(db, step_id=step_id, update=StepUpdate(status="done"), actor=claims.actor)
    except (Conflict, NotFound) as exc:
        return await _room(request, db, settings, claims, incident_id, str(exc), 409)
    return _redirect(f"/incidents/{incident_id}#steps")
