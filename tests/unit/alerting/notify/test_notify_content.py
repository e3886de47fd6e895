"""Pure notification content: escaping, Block Kit shape, email parts, digests, chart, back-off."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.alerting.notify.chart import render_chart_payload
from services.alerting.notify.content import (
    IncidentSummary,
    SampleMention,
    StatementSummary,
    StepSummary,
    email_message,
    escape_slack,
    incident_links,
    incident_payloads,
    safe_url,
    slack_message,
)
from services.alerting.notify.digests import digest_payloads
from services.alerting.notify.outbox import backoff_delay

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EVIL = SampleMention("<!channel> @here <@U123> & <https://evil.example|click>", "javascript:x()")
SUMMARY = IncidentSummary(
    id=42,
    brand="Acme & Co",
    category="safety",
    severity="SEV1",
    title="Chargers <b>melting</b>\nsecond line",
    status="open",
    opened_at=NOW,
    metric="negative_volume",
    value=90,
    baseline=15,
    top_terms=("fire", "<script>"),
    samples=(EVIL, SampleMention("ok", "https://x.com/s/1?a=1&b=2", "x", "bob")),
    steps=(StepSummary("Post holding statement", "comms_lead", NOW + timedelta(hours=1)),),
    series=((NOW, 1.0), (NOW + timedelta(minutes=1), 9.0)),
)
LINKS = incident_links("https://api.example/", 42, "https://grafana.example/d/x")


def test_escape_slack_defuses_mentions_and_markup() -> None:
    escaped = escape_slack("<!channel> <@U1> a & b @everyone")
    assert "<" not in escaped and ">" not in escaped
    assert "&amp;" in escaped and "@everyone" not in escaped


def test_slack_message_has_blocks_fallback_and_no_injection() -> None:
    msg = slack_message(SUMMARY, LINKS, update_kind="opened")
    assert [b["type"] for b in msg["blocks"]][:3] == ["header", "section", "section"]
    assert msg["blocks"][-1]["type"] == "context"
    assert "SEV1" in msg["text"] and "https://api.example/incidents/42" in msg["text"]
    dumped = json.dumps(msg)
    assert "<!channel>" not in dumped and "<@U123>" not in dumped
    assert "<https://evil.example" not in dumped
    assert "javascript:" not in dumped
    assert "<https://api.example/incidents/42|View incident>" in dumped
    assert "x6.0" in dumped
    header = msg["blocks"][0]["text"]
    assert header["type"] == "plain_text" and len(header["text"]) <= 150


def test_email_escapes_html_and_references_chart() -> None:
    mail = email_message(SUMMARY, LINKS, update_kind="opened")
    assert "\n" not in mail["subject"]
    assert "<b>melting" not in mail["html"] and "&lt;b&gt;melting" in mail["html"]
    assert "&lt;script&gt;" in mail["html"] and "javascript:" not in mail["html"]
    assert 'href="https://x.com/s/1?a=1&amp;b=2"' in mail["html"]
    assert "cid:spike-chart@crisiswatch" in mail["html"]
    assert "Post holding statement" in mail["text"]
    assert render_chart_payload(mail["chart"])[:4] == b"\x89PNG"


def test_payloads_per_channel_and_webhook_json() -> None:
    payloads = incident_payloads(SUMMARY, LINKS, update_kind="opened", channels=["webhook"])
    hook = payloads["webhook"]
    assert hook["event"] == "incident.opened"
    assert hook["incident"]["samples"][0]["url"] is None
    assert hook["links"]["grafana"] == "https://grafana.example/d/x"
    json.dumps(hook)


def test_digest_is_one_message_for_many_incidents() -> None:
    items = [(SUMMARY, LINKS), (SUMMARY, incident_links("https://api.example", 43))]
    out = digest_payloads(items, channels=["slack", "email", "webhook"])
    assert "2 lower-severity" in out["slack"]["text"]
    assert len(out["slack"]["blocks"]) == 3
    assert "/incidents/43" in out["email"]["text"]
    assert len(out["webhook"]["incidents"]) == 2


def test_safe_url_rejects_other_schemes() -> None:
    assert safe_url("ftp://x") is None and safe_url("javascript:alert(1)") is None
    assert safe_url("https://x.com/a|b") == "https://x.com/a%7Cb"


def test_backoff_is_exponential_and_capped() -> None:
    # The ceiling (a draw of 1.0) doubles per attempt up to max_s ...
    ceilings = [backoff_delay(n, base_s=1, max_s=5, rng=lambda: 1.0) for n in (1, 2, 3, 4)]
    assert ceilings == [1, 2, 4, 5]
    # ... and each retry waits a share of it drawn at random (full jitter).
    rng = random.Random(11).random
    for n, ceiling in zip((1, 2, 3, 4), ceilings, strict=True):
        delays = [backoff_delay(n, base_s=1, max_s=5, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert min(delays) < 0.1 * ceiling and max(delays) > 0.9 * ceiling


def test_holding_statements_are_quoted_escaped_and_dropped_once_closed() -> None:
    statements = (
        StatementSummary("de", "Wir prüfen <!channel> & @here Meldungen zu Acme.", main=True),
        StatementSummary("en", "We are looking into reports about Acme.", main=False),
        StatementSummary("fr", "Nous examinons les signalements.", main=False),
    )
    summary = replace(SUMMARY, statements=statements)
    slack = json.dumps(slack_message(summary, LINKS, update_kind="opened"), ensure_ascii=False)
    assert "*Holding statement (de)*" in slack and "Wir prüfen" in slack
    assert "<!channel>" not in slack and "@here" not in slack
    assert "Holding statement also in en, fr" in slack
    assert "<https://api.example/incidents/42#statements|all statements>" in slack
    assert "We are looking into" not in slack  # listed, not quoted
    mail = email_message(summary, LINKS, update_kind="opened")
    assert "Holding statement (de):\nWir prüfen" in mail["text"]
    assert "&lt;!channel&gt; &amp; @here" in mail["html"]
    payloads = incident_payloads(
        summary, LINKS, update_kind="resolved", channels=["slack", "email", "webhook"]
    )
    assert "Holding statement" not in json.dumps(payloads)
    assert payloads["webhook"]["holding_statements"] == []
    opened = incident_payloads(summary, LINKS, update_kind="opened", channels=["webhook"])
    assert [s["language"] for s in opened["webhook"]["holding_statements"]] == ["de", "en", "fr"]
