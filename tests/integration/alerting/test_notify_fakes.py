"""Local receivers that behave like Slack, an SMTP server and a webhook consumer.

They fail the way the real ones do (429 with Retry-After, 500, `{"ok": false}`), so the
notifiers and the outbox are tested against realistic answers. Fixtures live here and are
imported by the other notification tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notifiers.config import NotifySettings
from services.alerting.notifiers.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from shared.db.engine import transaction
from shared.db.models import IncidentRow
from tests.kafka_helpers import free_port

WEBHOOK_SECRET = "test-webhook-secret"


@dataclass
class Received:
    """One request a fake HTTP receiver got, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        """The request body as JSON."""
        return json.loads(self.body)


@dataclass
class FakeHttp:
    """A scripted HTTP receiver: answers from `script` first, then with `default`."""

    kind: str  # "slack_webhook", "slack_api" or "webhook"
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Pick the scripted or default answer and record the request."""
        with self.lock:
            if self.script:
                status, extra, payload = self.script.pop(0)
            else:
                status, extra, payload = self._default(headers, body)
            self.received.append(Received(path, headers, body, status))
            return status, extra, payload

    def _default(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.kind == "slack_webhook":
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if self.kind == "slack_api":
            if headers.get("authorization") != "Bearer xoxb-test":
                return 200, {}, b'{"ok": false, "error": "invalid_auth"}'
            return (
                200,
                {"Content-Type": "application/json"},
                b'{"ok": true, "ts": "1700000000.000100"}',
            )
        ok = verify(
            WEBHOOK_SECRET.encode(),
            headers.get(TIMESTAMP_HEADER.lower(), ""),
            body,
            headers.get(SIGNATURE_HEADER.lower(), ""),
        )
        return (200, {}, b"{}") if ok and headers.get("idempotency-key") else (401, {}, b"")

    def delivered(self) -> list[Received]:
        """Requests answered with success (for Slack API: with `"ok": true`)."""
        with self.lock:
            return [r for r in self.received if r.status == 200 and self._succeeded(r)]

    def _succeeded(self, request: Received) -> bool:
        if self.kind != "slack_api":
            return True
        return request.headers.get("authorization") == "Bearer xoxb-test"

    def fail_next(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
        """Queue answers to give before the default ones."""
        with self.lock:
            self.script.extend(answers)


def _serve(fake: FakeHttp) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = fake.answer(self.path, headers, body)
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server, thread


def _fake(kind: str) -> Iterator[FakeHttp]:
    fake = FakeHttp(kind)
    server, thread = _serve(fake)
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(name="slack_webhook")
def slack_webhook_fixture() -> Iterator[FakeHttp]:
    """A Slack incoming-webhook look-alike answering `ok`."""
    yield from _fake("slack_webhook")


@pytest.fixture(name="slack_api")
def slack_api_fixture() -> Iterator[FakeHttp]:
    """A Slack Web API look-alike: chat.postMessage answers `{"ok": true, "ts": ...}`."""
    yield from _fake("slack_api")


@pytest.fixture(name="webhook_receiver")
def webhook_receiver_fixture() -> Iterator[FakeHttp]:
    """A webhook consumer that verifies the HMAC signature and needs an Idempotency-Key."""
    yield from _fake("webhook")


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; start and stop it to simulate outages."""

    port: int
    inbox: _Inbox = field(default_factory=_Inbox)
    controller: Controller | None = None

    def start(self) -> None:
        """Start accepting mail."""
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        """Stop accepting mail."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(name="smtp_server")
def smtp_server_fixture() -> Iterator[SmtpServer]:
    """A running SMTP server collecting messages in `inbox.messages`."""
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def test_fake_slack_api_rejects_bad_token(slack_api: FakeHttp) -> None:
    """The fake answers like Slack: HTTP 200 with ok=false for a bad token."""
    answer = httpx.post(
        f"{slack_api.url}/chat.postMessage",
        json={"text": "x"},
        headers={"Authorization": "Bearer nope"},
    )
    assert answer.status_code == 200
    assert answer.json() == {"ok": False, "error": "invalid_auth"}
    assert slack_api.delivered() == []


@pytest.fixture(name="make_incident")
async def make_incident_fixture(db_engine: AsyncEngine, unique: str) -> AsyncIterator[Any]:
    """Create incidents rows directly; they (and their outbox rows) are deleted afterwards."""
    created: list[int] = []

    async def make(severity: str = "SEV1", **values: Any) -> int:
        row = IncidentRow(
            brand=values.pop("brand", f"brand-{unique}-{len(created)}"),
            topic="",
            category=values.pop("category", "safety"),
            rule="test_rule",
            status="open",
            severity=severity,
            title=values.pop("title", "Battery fires <reported>"),
            signal_count=1,
            scope={},
            reasons=[],
            details=values.pop("details", {"value": 120.0, "baseline": 10.0, "metric": "volume"}),
            **values,
        )
        async with transaction(db_engine) as session:
            session.add(row)
            await session.flush()
            created.append(row.id)
        return row.id

    yield make
    async with transaction(db_engine) as session:
        await session.execute(delete(IncidentRow).where(IncidentRow.id.in_(created)))


def notify_settings(**values: Any) -> NotifySettings:
    """NotifySettings from explicit values only (no environment, no .env), fast back-off."""
    defaults: dict[str, Any] = {
        "outbox_backoff_base_s": 0.05,
        "outbox_backoff_max_s": 0.5,
        "outbox_poll_interval_s": 0.05,
        "api_base_url": "http://api.local",
    }
    return NotifySettings(_env_file=None, **{**defaults, **values})  # type: ignore[call-arg]
