"""A real headless Chromium driven over the DevTools protocol (CDP) for page tests.

Just enough of CDP for the tests: isolated browser contexts (one cookie jar each), navigate,
evaluate JavaScript, wait for the next page, screenshot. Uses Debian's `chromium` package;
tests skip when it is not installed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.kafka_helpers import free_port, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab in its own browser context."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self._browser = browser
        self._session = session_id

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a CDP command to this tab."""
        return await self._browser.call(method, session_id=self._session, **params)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise AssertionError(f"page script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def _settled(self) -> bool:
        return bool(
            await self.evaluate("document.readyState === 'complete' && !window.__cw_old_page")
        )

    async def goto(self, url: str) -> None:
        """Open `url` and wait until the page has loaded."""
        await self.evaluate("window.__cw_old_page = true")
        await self.call("Page.navigate", url=url)
        await self._wait_new_page()

    async def click_and_wait(self, selector: str) -> None:
        """Click the element and wait for the page the click leads to."""
        await self.evaluate("window.__cw_old_page = true")
        found = await self.evaluate(
            f"(function(){{var e=document.querySelector({json.dumps(selector)});"
            "if(!e){return false;}e.click();return true;})()"
        )
        assert found, f"nothing matches {selector}"
        await self._wait_new_page()

    async def _wait_new_page(self) -> None:
        async def probe() -> bool:
            return await self._settled()

        assert await wait_for(probe, bool, timeout_s=15, interval_s=0.1, ignore=(AssertionError,))

    async def screenshot(self, path: Path) -> None:
        """Save a full-page PNG."""
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


class Browser:
    """A headless Chromium process and its CDP connection."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._ws:
            message = json.loads(raw)
            future = self._pending.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(AssertionError(f"CDP error: {message['error']}"))
                else:
                    future.set_result(message.get("result", {}))

    async def call(self, method: str, *, session_id: str | None = None, **params: Any) -> Any:
        """Send a CDP command (to a tab when `session_id` is given) and await its answer."""
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session_id:
            message["sessionId"] = session_id
        await self._ws.send(json.dumps(message))
        return await asyncio.wait_for(future, timeout=20)

    async def new_page(self, *, width: int = 1100, height: int = 900) -> Page:
        """A tab in a fresh browser context (no cookies shared with other pages)."""
        context = (await self.call("Target.createBrowserContext"))["browserContextId"]
        target = (
            await self.call("Target.createTarget", url="about:blank", browserContextId=context)
        )["targetId"]
        session = (await self.call("Target.attachToTarget", targetId=target, flatten=True))[
            "sessionId"
        ]
        page = Page(self, session)
        await page.call("Page.enable")
        await page.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )
        return page

    async def close(self) -> None:
        """Close the connection."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._ws.close()


def _stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Stop Chromium and every helper it spawned (renderers, crashpad), then reap the leader."""
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # helpers that outlived the leader
        os.killpg(process.pid, signal.SIGKILL)


async def _remove_profile(profile: str) -> None:
    """Delete the profile directory, retrying while exiting helpers still write into it."""

    async def removed() -> bool:
        shutil.rmtree(profile, ignore_errors=True)
        return not os.path.exists(profile)

    gone = await wait_for(removed, bool, timeout_s=15, interval_s=0.1)
    assert gone, f"chromium profile {profile} could not be removed"


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium for the duration of the block.

    Chromium runs in its own process group so that its helper processes stop with it; the
    throwaway profile is removed only once nothing writes into it any more.
    """
    assert CHROMIUM is not None
    port = free_port()
    profile = tempfile.mkdtemp(prefix="cw-chromium-")
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",  # tests run as root in a container
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        async def version() -> dict[str, Any]:
            async with httpx.AsyncClient() as client:
                answer = await client.get(f"http://127.0.0.1:{port}/json/version")
                return dict(answer.json())

        info = await wait_for(
            version, bool, timeout_s=30, interval_s=0.2, ignore=(httpx.HTTPError,)
        )
        async with websockets.connect(
            info["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024
        ) as ws:
            browser = Browser(ws)
            try:
                yield browser
            finally:
                await browser.close()
    finally:
        await asyncio.to_thread(_stop_process_group, process)
        await _remove_profile(profile)
