"""Local stand-ins for Slack and an SMTP server that record what crisiswatch sends them.

`SlackWebhookReceiver` behaves like an incoming webhook: `POST` JSON with `text`, answer
`ok`. Like the real one it can be told to answer 429 (with Retry-After) or 500 to the first
requests, so a demo can show the outbox retrying. `SlackApiReceiver` behaves like the Web API
a bot token talks to (`chat.postMessage`, `conversations.history` with message metadata), so
an incident's updates land in the thread of its first message, as in a real workspace.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DEMO_TOKEN = "xoxb-demo"  # noqa: S105 - the local receiver's token, not a secret
DEMO_CHANNEL = "C0DEMO"


@dataclass(frozen=True, slots=True)
class Received:
    """One notification as it arrived: channel, a one-line summary, and when."""

    channel: str
    summary: str
    at: float
    ident: str | None = None  # the Slack message ts, the email Message-ID
    reply_to: str | None = None  # the Slack thread_ts, the email In-Reply-To


class Inbox:
    """Thread-safe list of received notifications with an optional callback per arrival."""

    def __init__(self, on_receive: Callable[[Received], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._items: list[Received] = []
        self._on_receive = on_receive

    def add(
        self, channel: str, summary: str, *, ident: str | None = None, reply_to: str | None = None
    ) -> None:
        """Record one notification (`reply_to`: the message it answers in a thread)."""
        lines = summary.strip().splitlines()
        first = lines[0][:200] if lines else ""
        item = Received(channel, first, time.monotonic(), ident, reply_to)
        with self._lock:
            self._items.append(item)
        if self._on_receive is not None:
            self._on_receive(item)

    def items(self) -> list[Received]:
        """A copy of everything received so far."""
        with self._lock:
            return list(self._items)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Write one complete HTTP answer on `handler`."""
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("content-type", content_type)
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the live view clean: requests are shown as notifications instead."""


class _HttpReceiver:
    """An HTTP server on 127.0.0.1 in a daemon thread; subclasses give its handler."""

    def __init__(self, inbox: Inbox, *, port: int = 0) -> None:
        self._inbox = inbox
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _origin(self) -> str:
        if self._server is None:
            raise RuntimeError("receiver not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> None:
        """Listen in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class SlackWebhookReceiver(_HttpReceiver):
    """An HTTP server on 127.0.0.1 answering like a Slack incoming webhook."""

    def __init__(self, inbox: Inbox, *, port: int = 0, fail_first: int = 0) -> None:
        super().__init__(inbox, port=port)
        self._fail_first = fail_first

    @property
    def url(self) -> str:
        """The webhook URL to configure as CRISISWATCH_SLACK_WEBHOOK_URL."""
        return f"{self._origin()}/services/T0DEMO/B0DEMO/demo"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if receiver._fail_first > 0:
                    receiver._fail_first -= 1
                    self._answer(429, b"rate_limited", {"Retry-After": "1"})
                    return
                try:
                    payload: Any = json.loads(body)
                    text = payload["text"]
                except (ValueError, KeyError, TypeError):
                    self._answer(400, b"invalid_payload")
                    return
                receiver._inbox.add("slack", str(text))
                self._answer(200, b"ok")

            def _answer(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                _reply(self, status, body, "text/plain", headers)

        return Handler


class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1 that accepts every message (no TLS, no auth)."""

    def __init__(self, inbox: Inbox, *, port: int = 0) -> None:
        self._inbox = inbox
        self.port = port or free_port()
        self._controller: Any = None

    def start(self) -> None:
        """Start the SMTP server thread (aiosmtpd is a dev dependency, imported here)."""
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("the demo needs aiosmtpd: pip install -e '.[dev]'") from exc
        inbox = self._inbox

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = message_from_bytes(envelope.content, policy=policy.default)
                recipients = ", ".join(envelope.rcpt_tos)
                inbox.add(
                    "email",
                    f"to {recipients}: {message.get('Subject', '(no subject)')}",
                    ident=message.get("Message-ID"),
                    reply_to=message.get("In-Reply-To"),
                )
                return "250 Message accepted for delivery"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop the server thread."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class SlackApiReceiver(_HttpReceiver):
    """An HTTP server on 127.0.0.1 answering like the Slack Web API for one bot token.

    `chat.postMessage` keeps the message (with its metadata and `thread_ts`);
    `conversations.history` serves the channel's messages back newest first, with their
    metadata when asked (`include_all_metadata`), which is how updates find their thread.
    """

    def __init__(self, inbox: Inbox, *, port: int = 0) -> None:
        super().__init__(inbox, port=port)
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        """The API base to configure as CRISISWATCH_SLACK_API_BASE."""
        return f"{self._origin()}/api"

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Keep one posted message; return Slack's answer."""
        with self._lock:
            last = float(self._messages[-1]["ts"]) if self._messages else 0.0
            ts = f"{max(time.time(), last + 0.000001):.6f}"
            message = {"type": "message", "ts": ts, "text": str(body.get("text", ""))}
            if body.get("metadata"):
                message["metadata"] = body["metadata"]
            if body.get("thread_ts"):
                message["thread_ts"] = str(body["thread_ts"])
            self._messages.append(message)
        self._inbox.add("slack", message["text"], ident=ts, reply_to=message.get("thread_ts"))
        return {"ok": True, "channel": body.get("channel"), "ts": ts}

    def history(self, params: dict[str, str]) -> dict[str, Any]:
        """The channel's messages newest first, from `oldest` on, metadata when asked."""
        oldest = float(params.get("oldest", "0"))
        with self._lock:
            found = [dict(m) for m in reversed(self._messages) if float(m["ts"]) > oldest]
        if params.get("include_all_metadata") not in ("true", "1"):
            for m in found:
                m.pop("metadata", None)
        return {"ok": True, "messages": found, "has_more": False}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if not self._authorised():
                    return
                try:
                    payload: Any = json.loads(body)
                except ValueError:
                    self._json({"ok": False, "error": "invalid_json"})
                    return
                if not urlsplit(self.path).path.endswith("/chat.postMessage"):
                    self._json({"ok": False, "error": "unknown_method"})
                    return
                self._json(receiver.post(payload if isinstance(payload, dict) else {}))

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if not self._authorised():
                    return
                if not url.path.endswith("/conversations.history"):
                    self._json({"ok": False, "error": "unknown_method"})
                    return
                self._json(receiver.history(dict(parse_qsl(url.query))))

            def _authorised(self) -> bool:
                if self.headers.get("authorization") == f"Bearer {DEMO_TOKEN}":
                    return True
                self._json({"ok": False, "error": "invalid_auth"})
                return False

            def _json(self, answer: dict[str, Any]) -> None:
                _reply(self, 200, json.dumps(answer).encode(), "application/json")

        return Handler
