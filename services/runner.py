"""Process entry points: run one service, or all of them as child processes (`crisiswatch run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings.tree import Settings

log = logging.getLogger(__name__)

SERVICES = ("ingest", "sentiment", "alerting", "api")


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` in a fresh event loop; SIGINT/SIGTERM set `stop` for a clean exit."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def run_service(name: str, settings: Settings) -> None:
    """Run one service in this process until interrupted, with its sections of `settings`.

    Insecure settings stop it in production and are warned about in development."""
    from shared.settings.safety import check_deployment

    check_deployment(settings)
    if name == "sentiment":
        from services.sentiment.service import serve as serve_sentiment

        run_until_signal(lambda stop: serve_sentiment(settings.sentiment, stop))
    elif name == "alerting":
        from services.alerting.service import serve as serve_alerting

        run_until_signal(
            lambda stop: serve_alerting(settings.alerting, stop, notify_settings=settings.notify)
        )
    elif name == "api":
        from services.api.app import create_app
        from shared.http.server import serve_app

        api = settings.api
        app = create_app(api, settings.ingest, alerting=settings.alerting)
        run_until_signal(
            lambda stop: serve_app(app, host=api.api_host, port=api.api_port, stop=stop)
        )
    elif name == "ingest":
        from services.ingest.service import serve as serve_ingest

        run_until_signal(lambda stop: serve_ingest(settings.ingest, stop))
    else:
        raise ValueError(f"unknown service {name!r}; choose from {', '.join(SERVICES)}")


def run_all(services: tuple[str, ...] = SERVICES) -> int:
    """Start each service as a child process; stop them all on Ctrl-C or when one dies."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    for name in services:
        children[name] = subprocess.Popen([sys.executable, "-m", "services.cli", name])
        log.info("started %s (pid %d)", name, children[name].pid)
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    try:
        while not stopping:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    log.error("%s exited with code %d; stopping the others", name, code)
                    exit_code = code or 1
                    stopping = True
                    break
            time.sleep(0.2)
    finally:
        for child in children.values():
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return exit_code
