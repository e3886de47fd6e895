"""Digest content from figures: counts, changes, links, escaping, one chart per section."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from services.alerting.digests.content import (
    chart_specs,
    digest_payloads,
    render_html,
    sparkline,
)
from services.alerting.digests.figures import (
    BrandFigures,
    DigestIncident,
    DigestStory,
    Measures,
    VoiceShare,
)
from services.alerting.digests.periods import ending
from services.alerting.notify.chart import render_chart_spec

PERIOD = ending("daily", date(2026, 12, 4), ZoneInfo("UTC"))
OPENED = datetime(2026, 12, 3, 9, tzinfo=UTC)


def _incident(i: int, **values: object) -> DigestIncident:
    base: dict[str, object] = {
        "id": i,
        "severity": "SEV2",
        "title": f"Battery fires <b>{i}</b>",
        "status": "open",
        "owner": "alice",
        "opened_at": OPENED,
        "link": f"http://api.local/incidents/{i}?t=tok{i}",
    }
    return DigestIncident(**{**base, **values})  # type: ignore[arg-type]


def _figures() -> BrandFigures:
    hours = [Measures(10, 5, 3, 2)] * 24
    before = [Measures(5, 1, 2, 2)] * 24
    return BrandFigures(
        brand="acme",
        period=PERIOD,
        current=sum(hours, Measures()),
        previous=sum(before, Measures()),
        series=tuple(hours),
        previous_series=tuple(before),
        opened=(_incident(1),),
        resolved=(_incident(2, status="resolved"),),
        dismissed=(_incident(3, status="dismissed", dismissal_reason="a joke"),),
        open_now=(_incident(1), _incident(4, severity="SEV1", owner=None)),
        stories=(DigestStory("Recall <script>", 120, 0.8, ("battery fire",)),),
        phrases=(("battery fire", 40), ("@channel refund", 12)),
        voice=(VoiceShare("acme", 240, 0.6), VoiceShare("rival", 160, 0.4)),
        overview_link="http://api.local/incidents",
    )


def test_figures_compare_with_the_previous_period() -> None:
    f = _figures()
    assert f.current.volume == 240 and f.previous.volume == 120
    assert f.volume_change() == 1.0
    assert f.current.net_sentiment == -0.3
    assert f.summary()["opened"] == 1 and f.summary()["open"] == 2


def test_slack_digest_lists_incidents_with_links_and_defuses_broadcasts() -> None:
    slack = digest_payloads(_figures(), channels=["slack"])["slack"]
    text = json.dumps(slack["blocks"], ensure_ascii=False)
    assert slack["blocks"][0]["text"]["text"].startswith("acme daily digest")
    assert "+100% vs previous period" in text
    assert "-30 (-50 pts vs previous period)" in text
    assert "<http://api.local/incidents/4?t=tok4|#4>" in text
    assert "no owner" in text and "alice" in text
    assert "&lt;b&gt;" in text and "<b>" not in text
    assert "@\u200bchannel" in text
    assert "acme 60%, rival 40%" in text


def test_email_digest_has_a_chart_per_section_and_escapes_html() -> None:
    email = digest_payloads(_figures(), channels=["email"])["email"]
    names = [c["name"] for c in email["charts"]]
    assert names == ["volume", "sentiment", "voice", "stories", "incidents"]
    for chart in email["charts"]:
        assert f'src="cid:{chart["cid"]}"' in email["html"]
    assert "<script>" not in email["html"] and "&lt;script&gt;" in email["html"]
    assert "?t=tok1" in email["html"]
    assert "1 opened, 1 resolved, 1 dismissed as false positives, 2 open" in email["html"]
    assert "Top phrases: battery fire (40)" in email["text"]
    assert "a joke" in email["text"]
    assert email["subject"] == "acme daily digest: Thu 03 Dec 2026"


def test_charts_render_to_png_and_preview_inlines_them() -> None:
    specs = chart_specs(_figures())
    volume = next(s for s in specs if s["name"] == "volume")
    assert volume["series"]["this period"] == [10] * 24
    assert len(volume["labels"]) == 24
    for spec in specs:
        assert render_chart_spec(spec).startswith(b"\x89PNG")
    page = render_html(_figures(), lambda name: f"data:{name}")
    assert 'src="data:volume"' in page and 'alt="Mentions per hour"' in page


def test_webhook_digest_and_empty_period() -> None:
    hook = digest_payloads(_figures(), channels=["webhook"])["webhook"]
    assert hook["event"] == "brand_digest" and hook["summary"]["dismissed"] == 1
    empty = BrandFigures(
        brand="quiet",
        period=PERIOD,
        current=Measures(),
        previous=Measures(),
        series=(Measures(),) * 24,
        previous_series=(Measures(),) * 24,
    )
    slack = digest_payloads(empty, channels=["slack", "email"])
    assert "no volume" in str(slack["slack"]["blocks"])
    assert "no scored mentions" in slack["email"]["text"]
    assert [c["name"] for c in chart_specs(empty)] == ["volume", "sentiment", "incidents"]
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([0, 7]) == "▁█"
