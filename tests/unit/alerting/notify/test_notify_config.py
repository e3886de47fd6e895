"""NotifySettings rejects contradictions and routes severities to configured channels."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.alerting.notify.channels import build_notifiers
from services.alerting.notify.channels.slack_api import SlackApiNotifier
from shared.settings.notify import NotifySettings


def make(**values: Any) -> NotifySettings:
    return NotifySettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_routing_uses_only_configured_channels() -> None:
    settings = make(
        slack_webhook_url="https://hooks.slack.com/x",
        smtp_host="mail",
        smtp_from="a@b.c",
        smtp_to=["d@e.f"],
    )
    assert settings.route("SEV1") == (["slack", "email"], False)
    assert settings.route("SEV2") == (["slack", "email"], False)
    assert settings.route("SEV3") == ([], True)
    assert settings.route("SEV9") == (["slack", "email"], False)


def test_a_brand_route_replaces_the_service_route_of_its_severities_only() -> None:
    settings = make(slack_webhook_url="https://hooks.slack.com/x", webhook_url="https://h.example/x",
                    webhook_signing_secret="k")  # fmt: skip
    brand = {"SEV2": ["webhook"], "SEV3": ["slack", "digest"], "SEV4": []}
    assert settings.route("SEV1", brand) == (["slack", "webhook"], False)
    assert settings.route("SEV2", brand) == (["webhook"], False)
    assert settings.route("SEV3", brand) == (["slack"], True)
    assert settings.route("SEV4", brand) == ([], False)  # nobody: not even the digest


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"slack_bot_token": "xoxb-1"}, "slack_channel"),
        ({"smtp_host": "mail"}, "smtp_from"),
        ({"webhook_url": "https://x"}, "webhook_signing_secret"),
        ({"routes": {"SEV1": ["pager"]}}, "unknown channels"),
        (
            {
                "escalation_tiers": [
                    {"name": "a", "after_s": 60, "channels": ["slack"]},
                    {"name": "b", "after_s": 30, "channels": ["slack"]},
                ]
            },
            "increasing",
        ),
    ],
)
def test_contradictions_are_rejected(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make(**values)


def test_secrets_are_not_in_repr() -> None:
    settings = make(
        slack_bot_token="xoxb-very-secret",
        slack_channel="#c",
        webhook_url="https://h/x",
        webhook_signing_secret="s3cr3t-value",
    )
    assert "xoxb-very-secret" not in repr(settings)
    assert "s3cr3t-value" not in repr(settings)


def test_bot_token_selects_the_web_api() -> None:
    notifiers = build_notifiers(
        make(
            slack_bot_token="xoxb-1",
            slack_channel="#c",
            slack_webhook_url="https://hooks.slack.com/x",
        )
    )
    assert isinstance(notifiers["slack"], SlackApiNotifier)
