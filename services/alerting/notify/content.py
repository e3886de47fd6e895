"""Notification content, pure: Slack Block Kit, email text + HTML, and webhook JSON.

Everything that came from users (mention text, authors, terms, brand names, titles) is
escaped for the target format, so a mention cannot ping a Slack channel or inject HTML.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from services.alerting.notify.markup import (
    escape_slack,
    html_link,
    one_line,
    safe_url,
    slack_link,
)
from services.alerting.notify.story_content import (
    StoryBrief,
    email_story,
    slack_story_blocks,
    webhook_story,
)
from services.alerting.slack.blocks import actions_block

CHART_CID = "spike-chart@crisiswatch"


@dataclass(frozen=True, slots=True)
class SampleMention:
    """One example mention shown in a notification."""

    text: str
    url: str | None = None
    platform: str = ""
    author: str = ""


@dataclass(frozen=True, slots=True)
class StepSummary:
    """A playbook step shown in a notification."""

    title: str
    owner_role: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class StatementSummary:
    """A holding statement of the incident's playbook; `main` ones are quoted in messages."""

    language: str
    text: str
    main: bool = False


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """What a notification says about one incident."""

    id: int
    brand: str
    category: str
    severity: str
    title: str
    status: str
    opened_at: datetime
    metric: str = "volume"
    value: float = 0.0
    baseline: float = 0.0
    top_terms: tuple[str, ...] = ()
    samples: tuple[SampleMention, ...] = ()
    steps: tuple[StepSummary, ...] = ()
    series: tuple[tuple[datetime, float], ...] = ()
    note: str | None = None
    statements: tuple[StatementSummary, ...] = ()
    story: StoryBrief | None = None

    def quoted(self, update_kind: str) -> tuple[list[StatementSummary], list[str]]:
        """The statements a message quotes and the languages it only lists (none once closed)."""
        if update_kind in ("resolved", "dismissed", "merged"):
            return [], []
        main = [st for st in self.statements if st.main]
        return main, [st.language for st in self.statements if not st.main]


@dataclass(frozen=True, slots=True)
class Links:
    """Where the reader can open the incident."""

    incident: str
    grafana: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    statements: str | None = None


def incident_links(
    api_base: str, incident_id: int, grafana_url: str | None = None, *, sign_in: str | None = None
) -> Links:
    """Return the incident room (with its sign-in token), statements and Grafana links."""
    room = f"{api_base.rstrip('/')}/incidents/{incident_id}"
    query = f"?{urlencode({'t': sign_in})}" if sign_in else ""
    return Links(
        incident=f"{room}{query}", grafana=grafana_url, statements=f"{room}{query}#statements"
    )


def movement(summary: IncidentSummary) -> str:
    """Describe what moved vs its baseline, e.g. `negative volume 120 vs 10 baseline (x12.0)`."""
    text = f"{summary.metric} {summary.value:g} vs {summary.baseline:g} baseline"
    if summary.baseline > 0:
        text += f" (x{summary.value / summary.baseline:.1f})"
    return text


def _subject(summary: IncidentSummary, update_kind: str) -> str:
    return one_line(
        f"[{summary.severity}] {update_kind.upper()}: {summary.brand} - {summary.title}", 180
    )


def slack_links(links: Links) -> str:
    """The incident, Grafana and extra links as one Slack mrkdwn line."""
    named = [("View incident", links.incident), ("Grafana", links.grafana), *links.extra.items()]
    parts = [slack_link(url, label) for label, url in named]
    return " | ".join(p for p in parts if p)


def slack_message(summary: IncidentSummary, links: Links, *, update_kind: str) -> dict[str, Any]:
    """Build a Block Kit message (with a plain-text fallback) for one incident."""
    s = summary
    esc = escape_slack
    fields = [
        f"*Brand*\n{esc(s.brand)}",
        f"*Severity*\n{esc(s.severity)}",
        f"*Category*\n{esc(s.category)}",
        f"*Status*\n{esc(s.status)}",
        f"*What moved*\n{esc(movement(s))}",
        f"*Top terms*\n{esc(', '.join(s.top_terms[:8])) or '-'}",
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": one_line(f"{s.severity} {update_kind}: {s.brand}", 150),
            },
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": esc(one_line(s.title, 2900))}},
        *slack_story_blocks(s.story),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f[:2000]} for f in fields]},
    ]
    if s.note:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f":rotating_light: {esc(s.note)}"},
            }
        )
    for sample in s.samples[:3]:
        link = slack_link(sample.url, "open")
        who = esc(one_line(f"{sample.platform} {sample.author}".strip(), 60))
        line = f"> {esc(one_line(sample.text))}\n_{who}_" + (f" {link}" if link else "")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
    main, others = s.quoted(update_kind)
    for st in main:
        text = f"*Holding statement ({esc(st.language)})*\n> {esc(one_line(st.text, 2800))}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if others:
        link = slack_link(links.statements or links.incident, "all statements")
        also = f"Holding statement also in {esc(', '.join(others))}" + (f": {link}" if link else "")
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": also}]})
    if s.steps:
        steps = "\n".join(
            f"• {esc(st.title)} (_{esc(st.owner_role)}_, due {st.due_at:%Y-%m-%d %H:%M} UTC)"
            for st in s.steps[:3]
        )
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Playbook first steps*\n{steps}"},
            }
        )
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": slack_links(links)}})
    actions = actions_block(s.id, s.status, safe_url(links.incident))
    if actions is not None:
        blocks.append(actions)
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": (
                        f"incident #{s.id} · opened {s.opened_at:%Y-%m-%d %H:%M} UTC · crisiswatch"
                    ),
                }
            ],
        }
    )
    fallback = esc(f"{_subject(s, update_kind)} - {movement(s)} - {links.incident}")
    # The Web API notifier threads an incident's updates under its opening message.
    thread = {"incident": s.id, "opening": update_kind == "opened"}
    return {"text": fallback, "blocks": blocks, "thread": thread}


def _step_line(step: StepSummary) -> str:
    return f"{step.title} ({step.owner_role}, due {step.due_at:%Y-%m-%d %H:%M} UTC)"


def email_message(summary: IncidentSummary, links: Links, *, update_kind: str) -> dict[str, Any]:
    """Build the email subject, text and HTML parts (and chart data) for one incident."""
    s = summary
    rows = [
        ("Brand", s.brand),
        ("Severity", s.severity),
        ("Category", s.category),
        ("Status", s.status),
        ("What moved", movement(s)),
        ("Top terms", ", ".join(s.top_terms[:8]) or "-"),
        ("Opened", f"{s.opened_at:%Y-%m-%d %H:%M} UTC"),
    ]
    text = [s.title, "", *(f"{k}: {v}" for k, v in rows)]
    esc = html.escape
    body = [f"<h2>{esc(s.title)}</h2>"]
    if s.note:
        text += ["", s.note]
        body.append(f"<p><strong>{esc(s.note)}</strong></p>")
    body.append(
        "<table>"
        + "".join(f"<tr><th align='left'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        + "</table>"
    )
    story_text, story_html = email_story(s.story)
    text += story_text
    body += story_html
    if s.series:
        body.append(f'<p><img src="cid:{CHART_CID}" alt="spike vs baseline" width="600"></p>')
    if s.samples:
        text += ["", "Sample mentions:"]
        items = []
        for m in s.samples[:5]:
            text.append(f"- {one_line(m.text)} ({m.platform} {m.author}) {safe_url(m.url) or ''}")
            items.append(
                f"<li>{esc(one_line(m.text))} <em>{esc(m.platform)} {esc(m.author)}</em>"
                f" {html_link(m.url, 'open')}</li>"
            )
        body.append("<h3>Sample mentions</h3><ul>" + "".join(items) + "</ul>")
    main, others = s.quoted(update_kind)
    for st in main:
        text += ["", f"Holding statement ({st.language}):", st.text]
        heading = f"<h3>Holding statement ({esc(st.language)})</h3>"
        body.append(f"{heading}<blockquote>{esc(st.text)}</blockquote>")
    if others:
        also = f"Holding statement also in {', '.join(others)}"
        text += ["", f"{also}: {links.statements or links.incident}"]
        body.append(f"<p>{esc(also)}: {html_link(links.statements or links.incident, 'all')}</p>")
    if s.steps:
        text += ["", "Playbook first steps:"]
        step_lines = [_step_line(st) for st in s.steps[:5]]
        text += [f"- {line}" for line in step_lines]
        steps_html = "".join(f"<li>{esc(line)}</li>" for line in step_lines)
        body.append(f"<h3>Playbook first steps</h3><ol>{steps_html}</ol>")
    text += ["", f"Incident: {links.incident}"] + (
        [f"Grafana: {links.grafana}"] if links.grafana else []
    )
    body.append(
        "<p>"
        + " | ".join(
            filter(
                None,
                [html_link(links.incident, "View incident"), html_link(links.grafana, "Grafana")],
            )
        )
        + "</p>"
    )
    chart = None
    if s.series:
        chart = {
            "points": [[ts.isoformat(), v] for ts, v in s.series],
            "baseline": s.baseline,
            "title": one_line(f"{s.brand}: {s.metric}", 80),
        }
    return {
        "subject": _subject(s, update_kind),
        "text": "\n".join(text) + "\n",
        "html": "<html><body>" + "".join(body) + "</body></html>",
        "chart": chart,
    }


def webhook_payload(summary: IncidentSummary, links: Links, *, update_kind: str) -> dict[str, Any]:
    """Build the generic JSON webhook body for one incident."""
    s = summary
    return {
        "event": f"incident.{update_kind}",
        "incident": {
            "id": s.id,
            "brand": s.brand,
            "category": s.category,
            "severity": s.severity,
            "title": s.title,
            "status": s.status,
            "opened_at": s.opened_at.isoformat(),
            "metric": s.metric,
            "value": s.value,
            "baseline": s.baseline,
            "top_terms": list(s.top_terms),
            "note": s.note,
            "story": webhook_story(s.story),
            "samples": [
                {"text": m.text, "url": safe_url(m.url), "platform": m.platform, "author": m.author}
                for m in s.samples
            ],
        },
        "playbook_steps": [
            {"title": st.title, "owner_role": st.owner_role, "due_at": st.due_at.isoformat()}
            for st in s.steps
        ],
        "holding_statements": [
            {"language": st.language, "text": st.text, "main": st.main} for st in s.statements
        ]
        if update_kind not in ("resolved", "dismissed", "merged")
        else [],
        "links": {
            "incident": links.incident,
            "grafana": links.grafana,
            "holding_statements": links.statements,
            **links.extra,
        },
    }


def incident_payloads(
    summary: IncidentSummary, links: Links, *, update_kind: str, channels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Build one payload per requested channel (`slack`, `email`, `webhook`)."""
    builders = {"slack": slack_message, "email": email_message, "webhook": webhook_payload}
    return {ch: builders[ch](summary, links, update_kind=update_kind) for ch in channels}
