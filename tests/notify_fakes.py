"""Local receivers that behave like Slack, an SMTP server and a webhook consumer.

They fail the way the real ones do (429 with Retry-After, 500, `{"ok": false}`), so the
notifiers and the outbox are tested against realistic answers. The fixtures that run them
(`slack_webhook`, `slack_api`, `webhook_receiver`, `smtp_server`) are in tests/conftest.py;
their own tests in tests/integration/alerting/test_notify_fakes.py.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiosmtpd.controller import Controller

from services.alerting.notify.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from shared.settings.notify import NotifySettings

WEBHOOK_SIGNING_SECRET = "test-webhook-secret"


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
class SlackMessage:
    """A message the fake Slack holds in a channel's history."""

    channel: str
    ts: str
    text: str
    metadata: dict[str, Any] | None


@dataclass
class FakeHttp:
    """A scripted HTTP receiver: answers from `script` first, then with `default`.

    As `slack_api` it keeps what `chat.postMessage` posted and serves it back from
    `conversations.history` the way Slack does: channel IDs only (a `#name` is
    `channel_not_found`), newest first, `oldest` exclusive, cursor paging, and message
    metadata only with `include_all_metadata`. As `webhook` it processes each
    `Idempotency-Key` once and answers a repeat with success without processing it again.
    """

    kind: str  # "slack_webhook", "slack_api" or "webhook"
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    messages: list[SlackMessage] = field(default_factory=list)
    lookups: list[dict[str, str]] = field(default_factory=list)
    history_scope: bool = True  # False: the token lacks channels:history
    processed_keys: dict[str, Received] = field(default_factory=dict)
    on_posted: Callable[[], None] | None = None  # runs after a Slack post, before the answer

    def answer(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Pick the scripted or default answer and record the request."""
        with self.lock:
            if self.script:
                status, extra, payload = self.script.pop(0)
            else:
                status, extra, payload = self._default(path, headers, body)
            self.received.append(Received(path, headers, body, status))
            return status, extra, payload

    def answer_get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Answer a GET: `conversations.history` for the Slack API, 404 otherwise."""
        url = urlsplit(path)
        if self.kind != "slack_api" or not url.path.endswith("/conversations.history"):
            return 404, {}, b""
        params = dict(parse_qsl(url.query))
        with self.lock:
            self.lookups.append(params)
            answer = self._history(headers, params)
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    def _default(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.kind == "slack_webhook":
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if self.kind == "slack_api":
            if headers.get("authorization") != "Bearer xoxb-test":
                return 200, {}, b'{"ok": false, "error": "invalid_auth"}'
            answer = json.dumps(self._post(body)).encode()
            if self.on_posted is not None:
                self.on_posted()
            return 200, {"Content-Type": "application/json"}, answer
        ok = verify(
            WEBHOOK_SIGNING_SECRET.encode(),
            headers.get(TIMESTAMP_HEADER.lower(), ""),
            body,
            headers.get(SIGNATURE_HEADER.lower(), ""),
        )
        key = headers.get("idempotency-key")
        if not ok or not key:
            return 401, {}, b""
        # Like a receiver storing processed keys: a repeat is acknowledged, not processed.
        self.processed_keys.setdefault(key, Received(path, headers, body, 200))
        return 200, {}, b"{}"

    def _post(self, body: bytes) -> dict[str, Any]:
        request = json.loads(body)
        channel = channel_id(str(request.get("channel", "")))
        previous = float(self.messages[-1].ts) if self.messages else 0.0
        ts = f"{max(time.time(), previous + 0.000001):.6f}"
        metadata = request.get("metadata")
        self.messages.append(SlackMessage(channel, ts, request.get("text", ""), metadata))
        return {"ok": True, "channel": channel, "ts": ts}

    def _history(self, headers: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
        if headers.get("authorization") != "Bearer xoxb-test":
            return {"ok": False, "error": "invalid_auth"}
        if not self.history_scope:
            return {
                "ok": False,
                "error": "missing_scope",
                "needed": "channels:history",
                "provided": "chat:write",
            }
        channel = params.get("channel", "")
        if not re.fullmatch(r"[CGD][A-Z0-9]{2,}", channel):
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest", "0"))
        found = [m for m in self.messages if m.channel == channel and float(m.ts) > oldest]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        start = int(base64.b64decode(params["cursor"]).decode()) if params.get("cursor") else 0
        limit = min(int(params.get("limit", "100")), 999)
        page = found[start : start + limit]
        with_metadata = params.get("include_all_metadata") in {"true", "1"}
        messages = []
        for m in page:
            message: dict[str, Any] = {"type": "message", "text": m.text, "ts": m.ts}
            if with_metadata and m.metadata is not None:
                message["metadata"] = m.metadata
            messages.append(message)
        more = start + limit < len(found)
        cursor = base64.b64encode(str(start + limit).encode()).decode() if more else ""
        return {
            "ok": True,
            "messages": messages,
            "has_more": more,
            "response_metadata": {"next_cursor": cursor},
        }

    def delivered(self) -> list[Received]:
        """Requests answered with success (for Slack API: with `"ok": true`)."""
        with self.lock:
            return [r for r in self.received if r.status == 200 and self._succeeded(r)]

    def processed(self) -> list[Received]:
        """Webhook deliveries the receiver acted on: one per idempotency key."""
        with self.lock:
            return list(self.processed_keys.values())

    def _succeeded(self, request: Received) -> bool:
        if self.kind != "slack_api":
            return True
        return request.headers.get("authorization") == "Bearer xoxb-test"

    def fail_next(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
        """Queue answers to give before the default ones."""
        with self.lock:
            self.script.extend(answers)


def channel_id(name: str) -> str:
    """The ID the fake Slack gives a channel: IDs stay, `#name` maps to a stable `C…`."""
    if re.fullmatch(r"[CGD][A-Z0-9]{2,}", name):
        return name
    return "C" + hashlib.sha256(name.encode()).hexdigest()[:8].upper()


def _serve(fake: FakeHttp) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._reply(*fake.answer(self.path, headers, body))

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._reply(*fake.answer_get(self.path, headers))

        def _reply(self, status: int, extra: dict[str, str], payload: bytes) -> None:
            # The client may be gone (a killed dispatcher): nobody left to answer.
            with contextlib.suppress(ConnectionError):
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server, thread


def serve_fake(kind: str) -> Iterator[FakeHttp]:
    """Run a `FakeHttp` of `kind` on a free local port until the generator is closed."""
    fake = FakeHttp(kind)
    server, thread = _serve(fake)
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


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


def notify_settings(**values: Any) -> NotifySettings:
    """NotifySettings from explicit values only (no environment, no .env), fast back-off."""
    defaults: dict[str, Any] = {
        "outbox_backoff_base_s": 0.05,
        "outbox_backoff_max_s": 0.5,
        "outbox_poll_interval_s": 0.05,
        "api_base_url": "http://api.local",
    }
    return NotifySettings(_env_file=None, **{**defaults, **values})  # type: ignore[call-arg]
