"""Run a FastAPI app under uvicorn until a stop event is set."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI

from shared.errors import InfraError


async def serve_app(app: FastAPI, *, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve `app` on host:port; shut down gracefully when `stop` is set."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

    async def watch() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        await server.serve()
    finally:
        watcher.cancel()
    if not server.started:
        raise InfraError(f"HTTP server could not start on {host}:{port} (port taken?)")
