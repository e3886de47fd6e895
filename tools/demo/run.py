"""`crisiswatch demo`: the whole product on this machine, fed with a crisis, watched live.

Ensures Kafka and PostgreSQL are up, recreates the `crisiswatch_demo` database, starts local
Slack and SMTP receivers and the four services as child processes pointed at them, pushes the
bundled scenario (tools/demo/scenario.py) to the API, and shows throughput, sentiment per
brand, incidents and notifications in a live terminal view until Ctrl-C. With `duration_s`
it runs unattended and returns a summary once an incident and a notification arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.alerting.room.tokens import link_token
from shared.db.engine import create_engine
from shared.db.migrate import upgrade
from shared.infra import manage
from shared.kafka import ensure_topics
from shared.logging import RequestIdFilter, formatter
from shared.resilience import parse_retry_after, wait_or_stop
from shared.settings.infra import InfraSettings
from shared.settings.links import LinkSettings
from tools.demo.receivers import (
    DEMO_CHANNEL,
    DEMO_TOKEN,
    Inbox,
    SlackApiReceiver,
    SmtpReceiver,
    free_port,
)
from tools.demo.scenario import ScenarioMention, generate

SERVICES = ("ingest", "sentiment", "alerting", "api")
DEMO_DATABASE = "crisiswatch_demo"


@dataclass
class DemoState:
    """What the live view shows; updated by the pusher, the poller and the receivers."""

    started: float = field(default_factory=time.monotonic)
    pushed: int = 0
    rejected: int = 0
    crisis_started: float | None = None
    scored: int = 0
    rate_pushed: float = 0.0
    rate_scored: float = 0.0
    brands: list[tuple[str, int, int, float]] = field(default_factory=list)
    incidents: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    first_incident: float | None = None
    first_notification: float | None = None
    scenario_done: bool = False


def room_url(api_url: str, incident_id: int, links: LinkSettings) -> str:
    """The incident room of `incident_id`, with the sign-in token its notifications carry."""
    token = link_token(
        links.room_secret.get_secret_value().encode(),
        incident_id=incident_id,
        role=links.room_link_role,
        ttl_s=links.room_link_ttl_s,
        now=time.time(),
    )
    return f"{api_url}/incidents/{incident_id}?t={token}"


def _note_room(
    state: DemoState, rooms: dict[str, str], api_url: str, links: LinkSettings
) -> str | None:
    """Remember the room of the first incident; return its URL when it is new."""
    if not state.incidents or "incident room" in rooms:
        return None
    # The most severe incident (SEV1 sorts first), the first opened among equals.
    worst = min(state.incidents, key=lambda row: (row[3], row[0]))
    rooms["incident room"] = room_url(api_url, worst[0], links)
    return rooms["incident room"]


async def _room_heading(url: str) -> str:
    """Open the room as a browser would (link, cookie, redirect); return its headline."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as browser:
        page = await browser.get(url)
    found = re.search(r"<h1>(.*?)</h1>", page.text, re.DOTALL)
    return f"HTTP {page.status_code}: " + re.sub(r"<[^>]+>", "", found.group(1) if found else "")


def _since_crisis(state: DemoState, at: float | None) -> float | None:
    if at is None or state.crisis_started is None:
        return None
    return round(at - state.crisis_started, 1)


def render(state: DemoState, inbox: Inbox, urls: dict[str, str]) -> Group:
    """The live view: throughput, sentiment per brand, incidents, notifications, links."""
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"pushed [bold]{state.pushed}[/] ({state.rate_pushed:.0f}/s)",
        f"scored [bold]{state.scored}[/] ({state.rate_scored:.0f}/s)",
        f"rejected {state.rejected}",
        "scenario done" if state.scenario_done else "streaming scenario...",
    )
    brands = Table(title="Sentiment per brand", expand=True)
    for col in ("brand", "mentions", "negative", "mean sentiment"):
        brands.add_column(col, justify="left" if col == "brand" else "right")
    for brand, volume, negative, mean in state.brands:
        colour = "red" if mean < -0.1 else "green" if mean > 0.1 else "yellow"
        brands.add_row(brand, str(volume), str(negative), f"[{colour}]{mean:+.2f}[/]")
    incidents = Table(title="Incidents", expand=True)
    for col in ("id", "brand", "rule", "severity", "title"):
        incidents.add_column(col)
    for row in state.incidents:
        incidents.add_row(str(row[0]), row[1], row[2], f"[bold red]{row[3]}[/]", row[4])
    notes = Table(title="Notifications received", expand=True)
    notes.add_column("channel")
    notes.add_column("message")
    for item in inbox.items()[-6:]:
        # A reply in the incident's thread (Slack thread, email In-Reply-To) is indented.
        notes.add_row(item.channel, ("  ↳ " if item.reply_to else "") + item.summary)
    first = _since_crisis(state, state.first_incident)
    footer = "  ".join(f"{name}: {url}" for name, url in urls.items())
    timing = f"time to first alert: {first} s after the crisis began" if first else ""
    return Group(
        head,
        brands,
        incidents,
        notes,
        Panel(f"{footer}\n{timing}\nCtrl-C stops everything", title="crisiswatch demo"),
    )


async def _recreate_database(infra: InfraSettings, name: str) -> None:
    engine = create_async_engine(infra.database_url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


def _child_env(
    infra: InfraSettings,
    *,
    run_id: str,
    topics: dict[str, str],
    ports: dict[str, int],
    slack_url: str,
    smtp_port: int,
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CRISISWATCH_KAFKA_BOOTSTRAP": infra.bootstrap_servers,
            # The demo's own generator pushes without a key; a deployment never does.
            "CRISISWATCH_INGEST_REQUIRE_AUTH": "false",
            "CRISISWATCH_PG_DATABASE": DEMO_DATABASE,
            "CRISISWATCH_TOPIC_RAW": topics["raw"],
            "CRISISWATCH_TOPIC_SCORED": topics["scored"],
            "CRISISWATCH_TOPIC_DLQ": topics["dlq"],
            "CRISISWATCH_SENTIMENT_GROUP_ID": f"demo-{run_id}-sentiment",
            "CRISISWATCH_ALERTING_GROUP_ID": f"demo-{run_id}-alerting",
            "CRISISWATCH_API_PORT": str(ports["api"]),
            "CRISISWATCH_INGEST_PORT": str(ports["ingest"]),
            "CRISISWATCH_SENTIMENT_METRICS_PORT": str(ports["sentiment"]),
            "CRISISWATCH_ALERTING_METRICS_PORT": str(ports["alerting"]),
            "CRISISWATCH_API_BASE_URL": f"http://127.0.0.1:{ports['api']}",
            # A bot token, as in a workspace: an incident's updates go to its message's thread.
            "CRISISWATCH_SLACK_BOT_TOKEN": DEMO_TOKEN,
            "CRISISWATCH_SLACK_CHANNEL": DEMO_CHANNEL,
            "CRISISWATCH_SLACK_API_BASE": slack_url,
            "CRISISWATCH_SMTP_HOST": "127.0.0.1",
            "CRISISWATCH_SMTP_PORT": str(smtp_port),
            "CRISISWATCH_SMTP_STARTTLS": "false",
            "CRISISWATCH_SMTP_FROM": "crisiswatch@demo.invalid",
            "CRISISWATCH_SMTP_TO": '["comms-oncall@demo.invalid"]',
            # Every severity is delivered at once: a demo should not wait for the digest.
            "CRISISWATCH_ROUTES": '{"SEV1": ["slack", "email"], "SEV2": ["slack", "email"], '
            '"SEV3": ["slack", "email"], "SEV4": ["slack"]}',
            "CRISISWATCH_LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    return env


async def _push(
    client: httpx.AsyncClient,
    scenario: list[ScenarioMention],
    state: DemoState,
    stop: asyncio.Event,
) -> None:
    """Push each mention when its time has come, in batches."""
    start = time.monotonic()
    index = 0
    while index < len(scenario) and not stop.is_set():
        elapsed = time.monotonic() - start
        batch: list[ScenarioMention] = []
        while index < len(scenario) and scenario[index].at_s <= elapsed and len(batch) < 500:
            batch.append(scenario[index])
            index += 1
        if batch:
            if state.crisis_started is None and any(m.phase == "crisis" for m in batch):
                state.crisis_started = time.monotonic()
            resp = await client.post("/v1/mentions", json=[m.payload for m in batch])
            if resp.status_code == 503:
                index -= len(batch)
                wait = parse_retry_after(resp.headers.get("Retry-After"), max_s=30.0) or 1.0
                if await wait_or_stop(stop, wait):
                    break
                continue
            body = resp.json()
            state.pushed += int(body.get("accepted", 0))
            # Not produced: invalid (dead-lettered) and unmatched (no watched brand).
            state.rejected += int(body.get("invalid", 0)) + int(body.get("unmatched", 0))
        await asyncio.sleep(0.1)
    state.scenario_done = True


async def _poll(engine: AsyncEngine, state: DemoState, inbox: Inbox, stop: asyncio.Event) -> None:
    """Refresh counts, per-brand sentiment and incidents from PostgreSQL once a second."""
    last = (time.monotonic(), 0, 0)
    while not stop.is_set():
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT brand, count(*), count(*) FILTER (WHERE sentiment_label ="
                        " 'negative'), coalesce(avg(sentiment_score), 0) FROM mentions"
                        " GROUP BY brand ORDER BY brand"
                    )
                )
            ).all()
            incidents = (
                await conn.execute(
                    text(
                        "SELECT id, brand, rule, severity, title FROM incidents"
                        " ORDER BY opened_at DESC LIMIT 8"
                    )
                )
            ).all()
        state.brands = [(r[0], int(r[1]), int(r[2]), float(r[3])) for r in rows]
        state.scored = sum(r[1] for r in state.brands)
        state.incidents = [(int(r[0]), r[1], r[2], r[3], r[4]) for r in incidents]
        now = time.monotonic()
        if state.incidents and state.first_incident is None:
            state.first_incident = now
        received = inbox.items()
        if received and state.first_notification is None:
            state.first_notification = received[0].at
        dt = max(now - last[0], 1e-3)
        state.rate_pushed = (state.pushed - last[1]) / dt
        state.rate_scored = (state.scored - last[2]) / dt
        last = (now, state.pushed, state.scored)
        await wait_or_stop(stop, 1.0)


def _start_children(env: dict[str, str], log_path: Path) -> dict[str, subprocess.Popen[bytes]]:
    log = log_path.open("ab")
    children = {}
    for name in SERVICES:
        children[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", name], env=env, stdout=log, stderr=log
        )
    log.close()
    return children


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def run_demo_async(
    *,
    duration_s: float | None = None,
    seed: int = 7,
    day_s: float = 60.0,
    crisis_s: float = 45.0,
    free_ports: bool = False,
    notify_grace_s: float = 20.0,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the demo; with `duration_s`, stop after an incident and a notification or timeout."""
    console = console or Console()
    infra = InfraSettings()
    for line in await asyncio.to_thread(manage.up, infra):
        console.print(f"[dim]{line}[/]")
    await _recreate_database(infra, DEMO_DATABASE)
    await asyncio.to_thread(upgrade, infra, database=DEMO_DATABASE)
    run_id = uuid.uuid4().hex[:8]
    topics = {kind: f"demo.{run_id}.mentions.{kind}" for kind in ("raw", "scored", "dlq")}
    await ensure_topics(infra.bootstrap_servers, {name: 3 for name in topics.values()})
    ports = (
        {name: free_port() for name in SERVICES}
        if free_ports
        else {"api": 8080, "ingest": 8081, "sentiment": 9102, "alerting": 9103}
    )
    log_path = infra.state_dir / f"demo-{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The live view is the terminal's: this process's own log records (the local SMTP
    # receiver's protocol log among them) go to the log file, like the services' output.
    with logs_to_file(log_path):
        return await _run(
            infra, run_id, topics, ports, log_path, seed, duration_s, day_s, crisis_s,
            notify_grace_s, console,
        )  # fmt: skip


@contextlib.contextmanager
def logs_to_file(path: Path) -> Iterator[None]:
    """Send the log records of this process to `path` instead of the terminal meanwhile."""
    root = logging.getLogger()
    terminal = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.stdout)
    ]
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(formatter("text"))
    handler.addFilter(RequestIdFilter())
    for h in terminal:
        root.removeHandler(h)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        for h in terminal:
            root.addHandler(h)


async def _run(
    infra: InfraSettings,
    run_id: str,
    topics: dict[str, str],
    ports: dict[str, int],
    log_path: Path,
    seed: int,
    duration_s: float | None,
    day_s: float,
    crisis_s: float,
    notify_grace_s: float,
    console: Console,
) -> dict[str, Any]:
    inbox = Inbox()
    slack = SlackApiReceiver(inbox)
    smtp = SmtpReceiver(inbox)
    slack.start()
    smtp.start()
    env = _child_env(
        infra, run_id=run_id, topics=topics, ports=ports, slack_url=slack.url, smtp_port=smtp.port
    )
    children = _start_children(env, log_path)
    urls = {
        "API docs": f"http://127.0.0.1:{ports['api']}/docs",
        "metrics": f"http://127.0.0.1:{ports['api']}/metrics",
        "logs": str(log_path),
    }
    state = DemoState()
    api_url = f"http://127.0.0.1:{ports['api']}"
    # The children read the same environment (and .env): their links use this secret too.
    links = LinkSettings()
    rooms: dict[str, str] = {}  # printed on a line of its own: a long URL must not wrap
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = create_engine(infra, database=DEMO_DATABASE)
    scenario = generate(
        seed=seed, end=datetime.now(UTC), run_id=run_id, day_s=day_s, crisis_s=crisis_s
    )
    tasks: list[asyncio.Task[None]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['api']}", timeout=30) as c:
            deadline = time.monotonic() + 90
            while True:
                dead = [n for n, p in children.items() if p.poll() is not None]
                if dead:
                    raise RuntimeError(f"{', '.join(dead)} exited; see {log_path}")
                with contextlib.suppress(httpx.TransportError):
                    if (await c.get("/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the API did not become ready; see {log_path}")
                await asyncio.sleep(0.5)
            tasks = [
                asyncio.create_task(_push(c, scenario, state, stop)),
                asyncio.create_task(_poll(engine, state, inbox, stop)),
            ]
            give_up = None if duration_s is None else time.monotonic() + duration_s
            if duration_s is None:
                with Live(
                    render(state, inbox, urls), console=console, refresh_per_second=4
                ) as live:
                    while not stop.is_set():
                        new_room = _note_room(state, rooms, api_url, links)
                        if new_room:
                            live.console.print(
                                f"incident room: {new_room}", soft_wrap=True, markup=False
                            )
                        live.update(render(state, inbox, urls))
                        await asyncio.sleep(0.25)
            else:
                while not stop.is_set() and time.monotonic() < (give_up or 0):
                    _note_room(state, rooms, api_url, links)
                    if state.first_incident and state.first_notification:
                        break
                    # After the incident, a notification gets `notify_grace_s` to arrive.
                    if state.first_incident and give_up is not None:
                        give_up = min(give_up, state.first_incident + notify_grace_s)
                    await asyncio.sleep(0.25)
                _note_room(state, rooms, api_url, links)
                if "incident room" in rooms:
                    rooms["heading"] = await _room_heading(rooms["incident room"])
                console.print(render(state, inbox, urls))
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=10)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await asyncio.to_thread(_stop_children, children)
        await engine.dispose()
        slack.stop()
        smtp.stop()
    summary = {
        "pushed": state.pushed,
        "scored": state.scored,
        "incidents": len(state.incidents),
        "notifications": len(inbox.items()),
        # First messages of a thread (pages) and replies in one, per channel.
        "pages": _count(inbox, replies=False),
        "replies": _count(inbox, replies=True),
        "time_to_first_incident_s": _since_crisis(state, state.first_incident),
        "time_to_first_notification_s": _since_crisis(state, state.first_notification),
        "log": str(log_path),
        "incident_room": rooms.get("incident room"),
        "incident_room_heading": rooms.get("heading"),
    }
    if summary["incident_room"]:
        # One unwrapped line, openable as printed (the token signs the reader in).
        console.print(f"incident room: {summary['incident_room']}", soft_wrap=True, markup=False)
    console.print(
        f"time to first alert: incident {summary['time_to_first_incident_s']} s, "
        f"notification {summary['time_to_first_notification_s']} s after the crisis began"
    )
    return summary


def _count(inbox: Inbox, *, replies: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in inbox.items():
        if (item.reply_to is not None) == replies:
            out[item.channel] = out.get(item.channel, 0) + 1
    return out


def run_demo(**options: Any) -> dict[str, Any]:
    """Run the demo in a fresh event loop (see `run_demo_async` for the options)."""
    return asyncio.run(run_demo_async(**options))
