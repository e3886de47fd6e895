"""ASGI middleware that refuses request bodies above a size limit with 413."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import CrisiswatchError
from shared.http.problems import PROBLEM_JSON, problem_body


class _TooLarge(HTTPException, CrisiswatchError):
    """Raised inside the app while streaming, so its exception middleware answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


class BodySizeLimit:
    """413 when Content-Length or the streamed body exceeds the limit for the path."""

    def __init__(self, app: ASGIApp, *, default_limit: int, push_limit: int) -> None:
        self.app = app
        self.default_limit = default_limit
        self.push_limit = push_limit

    def _limit(self, scope: Scope) -> int:
        if scope.get("path") == "/v1/mentions" and scope.get("method") == "POST":
            return self.push_limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count streamed bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await _reject(send, limit, str(scope.get("path", "")))
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


async def _reject(send: Send, limit: int, path: str) -> None:
    detail = f"request body exceeds {limit} bytes"
    body = json.dumps(problem_body(413, detail, instance=path)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
