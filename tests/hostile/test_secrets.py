"""No secret appears in logs, metrics or error responses, even while things fail."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from services.alerting.notify.channels.base import DeliveryError
from services.alerting.notify.channels.slack_api import SlackApiNotifier
from services.alerting.notify.channels.slack_webhook import SlackWebhookNotifier
from services.alerting.notify.channels.smtp import SmtpNotifier
from services.api.app import create_app
from shared.db.engine import create_engine, ping
from shared.errors import InfraError
from shared.logging import configure_logging
from shared.settings.api import ApiSettings
from tests.fault_helpers import FlakySlack
from tests.kafka_helpers import free_port

SECRETS = {
    "api_key": "SECRET-apikey-7f3a9c",
    "webhook": "SECRET-webhook-51be0d",
    "smtp": "SECRET-smtp-pass-c0ffee",
    "slack_token": "xoxb-SECRET-slacktoken-99",
    "slack_hook": "SECRET-slackhook-path-4242",
    "pseudonym": "SECRET-pseudonym-key-abcdef012345",
    "pg": "SECRET-pg-password-d00d",
}


def _refuse_all(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    return AuthResult(success=False, handled=False)


@pytest.fixture
def production_logging() -> Iterator[None]:
    """Let the test configure logging as the services do; put the session's back after.

    Left in place, its DEBUG root level and its handler on this test's captured stderr
    would reach every later test ("I/O operation on closed file" from server threads).
    """
    root = logging.getLogger()
    levels = {n: logging.getLogger(n).level for n in ("", *logging.root.manager.loggerDict)}
    handlers = root.handlers[:]
    yield
    root.handlers[:] = handlers
    for name in ("", *logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))


async def test_secrets_stay_out_of_logs_metrics_and_errors(
    settings_factory: Any, api_sections: Any, caplog: Any, capsys: Any, production_logging: None
) -> None:
    # Production logging (httpx request lines capped at WARNING), at the most verbose level.
    configure_logging("DEBUG")
    logging.getLogger().addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    captured: list[str] = []
    api, ingest = api_sections(
        ingest_api_keys=[SecretStr(SECRETS["api_key"])],
        push_hmac_secret=SecretStr(SECRETS["webhook"]),
        pseudonym_secret=SecretStr(SECRETS["pseudonym"]),
        ingest_require_auth=True,
        retention_interval_s=0,
    )
    app = create_app(api, ingest, registry=CollectorRegistry())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        for headers in (
            {"X-API-Key": SECRETS["api_key"] + "x"},
            {"X-Crisiswatch-Signature": "sha256=00", "X-Crisiswatch-Timestamp": "1"},
            {},
        ):
            resp = await c.post("/v1/mentions", content=b"[{}]", headers=headers)
            assert resp.status_code == 401
            captured.append(resp.text + str(resp.headers))
        ok = await c.post(
            "/v1/mentions", content=b"[{}]", headers={"X-API-Key": SECRETS["api_key"]}
        )
        assert ok.status_code == 422
        captured.append(ok.text)
        metrics = await c.get("/metrics")
        captured.append(metrics.text)

    # Slack webhook (the URL path is the secret) and Slack API (token) answering 500.
    slack = FlakySlack(failing=True)
    with slack.serving():
        base = slack.url.rsplit("/services/", 1)[0]
        for notifier in (
            SlackWebhookNotifier(SecretStr(f"{base}/services/{SECRETS['slack_hook']}")),
            SlackApiNotifier(SecretStr(SECRETS["slack_token"]), "#ops", api_base=base),
        ):
            try:
                await notifier.send({"text": "t", "blocks": []}, idempotency_key="k")
                raise AssertionError("a failing Slack must raise")
            except DeliveryError as exc:
                captured.append(repr(exc) + str(exc.__cause__))
            finally:
                await notifier.stop()

    # SMTP that refuses our credentials.
    port = free_port()
    controller = Controller(
        object(),
        hostname="127.0.0.1",
        port=port,
        authenticator=_refuse_all,
        auth_require_tls=False,
    )
    controller.start()
    try:
        smtp = SmtpNotifier(
            host="127.0.0.1",
            port=port,
            sender="cw@example.org",
            recipients=["ops@example.org"],
            username="cw",
            password=SecretStr(SECRETS["smtp"]),
            starttls=False,
            implicit_tls=False,
            timeout_s=5,
        )
        try:
            await smtp.send(
                {"subject": "s", "text": "t", "html": "<p>t</p>"}, idempotency_key="k@x"
            )
            raise AssertionError("a refused login must raise")
        except DeliveryError as exc:
            captured.append(repr(exc) + str(exc.__cause__))
    finally:
        controller.stop()

    # PostgreSQL refusing a wrong password.
    engine = create_engine(settings_factory(ApiSettings, pg_password=SecretStr(SECRETS["pg"])))
    try:
        await ping(engine)
        raise AssertionError("a wrong PostgreSQL password must fail")
    except InfraError as exc:
        captured.append(repr(exc) + repr(exc.__cause__))
    finally:
        await engine.dispose()

    out, err = capsys.readouterr()
    captured += [caplog.text, out, err]
    everything = "\n".join(captured)
    leaked = [name for name, value in SECRETS.items() if value in everything]
    where = [line for line in everything.splitlines() if any(v in line for v in SECRETS.values())]
    assert not leaked, f"secrets leaked: {leaked}: {where[:3]}"
