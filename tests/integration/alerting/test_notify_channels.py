"""Each notifier against a local receiver that answers like the real service."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from services.alerting.notify.channels import PermanentDeliveryError, TransientDeliveryError
from services.alerting.notify.channels.slack_api import SlackApiNotifier
from services.alerting.notify.channels.slack_webhook import SlackWebhookNotifier
from services.alerting.notify.channels.smtp import SmtpNotifier
from services.alerting.notify.channels.webhook import WebhookNotifier
from services.alerting.notify.content import (
    CHART_CID,
    IncidentSummary,
    SampleMention,
    email_message,
    incident_links,
    slack_message,
    webhook_payload,
)
from tests.kafka_helpers import free_port
from tests.notify_fakes import WEBHOOK_SIGNING_SECRET, FakeHttp, SmtpServer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SUMMARY = IncidentSummary(
    id=7,
    brand="Acme <b>",
    category="safety",
    severity="SEV1",
    title="Battery fires reported",
    status="open",
    opened_at=NOW,
    metric="negative_volume",
    value=120,
    baseline=10,
    top_terms=("fire", "battery"),
    samples=(SampleMention("<script>alert(1)</script> it burned", "https://x.com/1", "x", "u1"),),
    series=tuple((NOW - timedelta(minutes=30 - i), float(i * i)) for i in range(30)),
)
LINKS = incident_links("http://api.local", 7)


async def test_slack_webhook_posts_blocks(slack_webhook: FakeHttp) -> None:
    notifier = SlackWebhookNotifier(SecretStr(f"{slack_webhook.url}/services/T/B/secret"))
    await notifier.start()
    try:
        await notifier.send(
            slack_message(SUMMARY, LINKS, update_kind="opened"), idempotency_key="k"
        )
    finally:
        await notifier.stop()
    (request,) = slack_webhook.delivered()
    assert request.path == "/services/T/B/secret"
    assert request.json()["blocks"][0]["type"] == "header"


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (429, {"Retry-After": "3"}, TransientDeliveryError, 3.0),
        (500, {}, TransientDeliveryError, None),
        (404, {}, PermanentDeliveryError, None),
    ],
)
async def test_slack_webhook_errors_never_leak_the_url(
    slack_webhook: FakeHttp,
    status: int,
    headers: dict[str, str],
    error: type[Exception],
    retry_after: float | None,
) -> None:
    slack_webhook.fail_next((status, headers, b"channel_not_found"))
    notifier = SlackWebhookNotifier(SecretStr(f"{slack_webhook.url}/services/T/B/secret"))
    with pytest.raises(error) as caught:
        await notifier.send({"text": "hi"}, idempotency_key="k")
    await notifier.stop()
    assert "secret" not in str(caught.value)
    assert getattr(caught.value, "retry_after_s", None) == retry_after


async def test_slack_api_posts_with_bearer_token(slack_api: FakeHttp) -> None:
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), "#crisis", api_base=f"{slack_api.url}/api")
    await notifier.send({"text": "hi", "blocks": [], "channel": "#exec"}, idempotency_key="k")
    await notifier.stop()
    (request,) = slack_api.delivered()
    assert request.path == "/api/chat.postMessage"
    assert request.json()["channel"] == "#exec"


async def test_slack_api_ok_false_is_an_error(slack_api: FakeHttp) -> None:
    bad = SlackApiNotifier(SecretStr("xoxb-wrong"), "#crisis", api_base=slack_api.url)
    with pytest.raises(PermanentDeliveryError, match="invalid_auth") as caught:
        await bad.send({"text": "hi"}, idempotency_key="k")
    await bad.stop()
    assert "xoxb" not in str(caught.value)
    slack_api.fail_next((200, {}, b'{"ok": false, "error": "ratelimited"}'))
    good = SlackApiNotifier(SecretStr("xoxb-test"), "#crisis", api_base=slack_api.url)
    with pytest.raises(TransientDeliveryError):
        await good.send({"text": "hi"}, idempotency_key="k")
    await good.stop()


async def test_webhook_is_signed_and_idempotent(webhook_receiver: FakeHttp) -> None:
    notifier = WebhookNotifier(
        SecretStr(webhook_receiver.url), SecretStr(WEBHOOK_SIGNING_SECRET), allow_private=True
    )
    payload = webhook_payload(SUMMARY, LINKS, update_kind="opened")
    await notifier.send(payload, idempotency_key="incident:7:opened:SEV1:webhook")
    await notifier.stop()
    (request,) = webhook_receiver.delivered()
    assert request.headers["idempotency-key"] == "incident:7:opened:SEV1:webhook"
    assert request.json()["incident"]["brand"] == "Acme <b>"


async def test_webhook_with_wrong_secret_is_rejected(webhook_receiver: FakeHttp) -> None:
    notifier = WebhookNotifier(
        SecretStr(webhook_receiver.url), SecretStr("wrong"), allow_private=True
    )
    with pytest.raises(PermanentDeliveryError, match="401"):
        await notifier.send({"event": "x"}, idempotency_key="k")
    await notifier.stop()


async def test_email_is_multipart_with_inline_chart(smtp_server: SmtpServer) -> None:
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=smtp_server.port,
        sender="alerts@crisiswatch.local",
        recipients=["pr@brand.local"],
        starttls=False,
    )
    payload = email_message(SUMMARY, LINKS, update_kind="opened")
    await notifier.send(payload, idempotency_key="incident:7:opened:SEV1:email")
    (message,) = smtp_server.inbox.messages
    assert smtp_server.inbox.envelopes == [("alerts@crisiswatch.local", ["pr@brand.local"])]
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"].startswith("[SEV1] OPENED: Acme <b>")
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "negative_volume 120 vs 10 baseline (x12.0)" in text.get_content()
    html_text = html.get_content()
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text
    assert f"cid:{CHART_CID}" in html_text
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    assert images[0]["Content-ID"] == f"<{CHART_CID}>"
    assert images[0].get_content()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_email_to_a_dead_server_is_transient() -> None:
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=free_port(),
        sender="a@b.c",
        recipients=["d@e.f"],
        username="user",
        password=SecretStr("hunter2"),
        starttls=False,
        timeout_s=2,
    )
    with pytest.raises(TransientDeliveryError) as caught:
        await notifier.send({"subject": "s", "text": "t", "html": "<p>t</p>"}, idempotency_key="k")
    assert "hunter2" not in str(caught.value)


async def test_webhook_to_a_loopback_address_is_refused_unless_allowed(webhook_receiver) -> None:
    notifier = WebhookNotifier(SecretStr(webhook_receiver.url), SecretStr(WEBHOOK_SIGNING_SECRET))
    await notifier.start()
    try:
        with pytest.raises(PermanentDeliveryError, match="private or loopback") as info:
            await notifier.send({"text": "hello"}, idempotency_key="ssrf-1")
        assert webhook_receiver.url not in str(info.value)
        assert not webhook_receiver.received
    finally:
        await notifier.stop()


def _drop_connection() -> None:
    # Raised inside the receiver's handler: the connection closes without an answer.
    raise ConnectionAbortedError("the receiver went away after accepting the message")


async def test_only_a_dropped_answer_leaves_delivery_in_doubt(slack_api: FakeHttp) -> None:
    refused = SlackApiNotifier(
        SecretStr("xoxb-test"), "C0CRISIS", api_base=f"http://127.0.0.1:{free_port()}"
    )
    with pytest.raises(TransientDeliveryError) as caught:
        await refused.send({"text": "hi"}, idempotency_key="k")
    await refused.stop()
    assert caught.value.maybe_delivered is False
    slack_api.on_posted = _drop_connection
    dropped = SlackApiNotifier(SecretStr("xoxb-test"), "C0CRISIS", api_base=slack_api.url)
    with pytest.raises(TransientDeliveryError) as caught:
        await dropped.send({"text": "hi"}, idempotency_key="k")
    await dropped.stop()
    assert caught.value.maybe_delivered is True
    assert len(slack_api.messages) == 1


async def test_slack_api_threads_an_incidents_updates_under_its_opening(
    slack_api: FakeHttp,
) -> None:
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), "C0THREAD", api_base=slack_api.url)
    opening = slack_message(SUMMARY, LINKS, update_kind="opened")
    other = slack_message(replace(SUMMARY, id=8), LINKS, update_kind="opened")
    update = slack_message(SUMMARY, LINKS, update_kind="resolved")
    await notifier.send(opening, idempotency_key="incident:7:opened")
    await notifier.send(other, idempotency_key="incident:8:opened")
    await notifier.send(update, idempotency_key="incident:7:resolved")
    # Without the history scope the update still goes out, to the channel itself.
    slack_api.history_scope = False
    await notifier.send(update, idempotency_key="incident:7:resolved-again")
    await notifier.stop()
    posts = [r.json() for r in slack_api.delivered() if r.path.endswith("chat.postMessage")]
    first_ts = slack_api.messages[0].ts
    assert [p.get("thread_ts") for p in posts] == [None, None, first_ts, None]
    assert posts[0]["metadata"]["event_payload"] == {
        "dedupe_key": "incident:7:opened",
        "incident": 7,
        "opening": True,
    }
