"""Run a FastAPI app under uvicorn until a stop event is set."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from shared.errors import InfraError


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_app(app: FastAPI, *, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve `app` on host:port; shut down gracefully when `stop` is set."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = _EmbeddedServer(config)

    async def watch() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        await server.serve()
    finally:
        watcher.cancel()
    if not server.started and not stop.is_set():
        raise InfraError(f"HTTP server could not start on {host}:{port} (port taken?)")
