"""Local stand-ins for Slack and an SMTP server that record what crisiswatch sends them.

The Slack receiver behaves like an incoming webhook: `POST` JSON with `text`, answer `ok`.
Like the real one it can be told to answer 429 (with Retry-After) or 500 to the first
requests, so a demo can show the outbox retrying.
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


@dataclass(frozen=True, slots=True)
class Received:
    """One notification as it arrived: channel, a one-line summary, and when."""

    channel: str
    summary: str
    at: float


class Inbox:
    """Thread-safe list of received notifications with an optional callback per arrival."""

    def __init__(self, on_receive: Callable[[Received], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._items: list[Received] = []
        self._on_receive = on_receive

    def add(self, channel: str, summary: str) -> None:
        """Record one notification."""
        lines = summary.strip().splitlines()
        item = Received(channel, lines[0][:200] if lines else "", time.monotonic())
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


class SlackWebhookReceiver:
    """An HTTP server on 127.0.0.1 answering like a Slack incoming webhook."""

    def __init__(self, inbox: Inbox, *, port: int = 0, fail_first: int = 0) -> None:
        self._inbox = inbox
        self._port = port
        self._fail_first = fail_first
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The webhook URL to configure as CRISISWATCH_SLACK_WEBHOOK_URL."""
        if self._server is None:
            raise RuntimeError("receiver not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/services/T0DEMO/B0DEMO/demo"

    def start(self) -> None:
        """Listen in a daemon thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
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
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the live view clean: requests are shown as notifications instead."""

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


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
                inbox.add("email", f"to {recipients}: {message.get('Subject', '(no subject)')}")
                return "250 Message accepted for delivery"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop the server thread."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
