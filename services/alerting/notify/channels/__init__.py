"""Notification channels behind one small `Notifier` protocol, built from `NotifySettings`."""

from __future__ import annotations

from collections.abc import Callable

from services.alerting.notify.channels.base import (
    DeliveryError,
    Notifier,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from services.alerting.notify.channels.slack_api import SlackApiNotifier
from services.alerting.notify.channels.slack_webhook import SlackWebhookNotifier
from services.alerting.notify.channels.smtp import SmtpNotifier
from services.alerting.notify.channels.webhook import WebhookNotifier
from shared.settings.notify import NotifySettings

__all__ = [
    "DeliveryError",
    "Notifier",
    "NotifySettings",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "build_notifiers",
]


def _slack(s: NotifySettings) -> Notifier:
    if s.slack_bot_token is not None and s.slack_channel:
        return SlackApiNotifier(
            s.slack_bot_token,
            s.slack_channel,
            api_base=s.slack_api_base,
            timeout_s=s.notify_http_timeout_s,
        )
    assert s.slack_webhook_url is not None
    return SlackWebhookNotifier(s.slack_webhook_url, timeout_s=s.notify_http_timeout_s)


def _email(s: NotifySettings) -> Notifier:
    assert s.smtp_host is not None and s.smtp_from is not None
    return SmtpNotifier(
        host=s.smtp_host,
        port=s.smtp_port,
        sender=s.smtp_from,
        recipients=s.smtp_to,
        username=s.smtp_username,
        password=s.smtp_password,
        starttls=s.smtp_starttls,
        implicit_tls=s.smtp_implicit_tls,
        timeout_s=s.notify_http_timeout_s,
    )


def _webhook(s: NotifySettings) -> Notifier:
    assert s.webhook_url is not None and s.webhook_signing_secret is not None
    return WebhookNotifier(
        s.webhook_url,
        s.webhook_signing_secret,
        timeout_s=s.notify_http_timeout_s,
        allow_private=s.webhook_allow_private,
    )


_FACTORIES: dict[str, Callable[[NotifySettings], Notifier]] = {
    "slack": _slack,
    "email": _email,
    "webhook": _webhook,
}


def build_notifiers(settings: NotifySettings) -> dict[str, Notifier]:
    """Return one notifier per configured channel (no I/O; call `start()` on each)."""
    return {ch: _FACTORIES[ch](settings) for ch in sorted(settings.enabled_channels())}
