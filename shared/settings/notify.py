"""Settings of notification delivery: channels, severity routing, outbox, escalation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from shared.settings.digests import BrandDigestSettings
from shared.settings.links import LinkSettings

Channel = Literal["slack", "email", "webhook"]
CHANNELS: tuple[Channel, ...] = ("slack", "email", "webhook")
DIGEST = "digest"
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")


class EscalationTier(BaseModel):
    """A contact tier notified when an incident is still unacknowledged after `after_s`."""

    name: str = Field(min_length=1, max_length=64)
    after_s: int = Field(ge=1, description="seconds after the incident opened")
    channels: list[Channel] = Field(min_length=1)
    slack_channel: str | None = Field(
        default=None,
        description="overrides slack_channel",
    )
    email_to: list[str] = Field(default_factory=list, description="overrides smtp_to")


class RoleContact(BaseModel):
    """Where the owner of a playbook role is reached directly."""

    slack_channel: str | None = None
    email_to: list[str] = Field(default_factory=list)


def _default_routes() -> dict[str, list[str]]:
    return {
        "SEV1": ["slack", "email", "webhook"],
        "SEV2": ["slack", "email"],
        "SEV3": [DIGEST],
        "SEV4": [DIGEST],
    }


def _slack_email() -> list[Channel]:
    return ["slack", "email"]


def _slack_only() -> list[Channel]:
    return ["slack"]


class NotifySettings(LinkSettings, BrandDigestSettings):
    """Where notifications go (Slack, SMTP, webhook), how they are routed and retried."""

    # Links in messages (api_base_url and the sign-in of the room: LinkSettings)
    grafana_url: str | None = Field(default=None, description="dashboard link in messages")
    # Slack: the Web API (bot token) is used when set, otherwise the incoming webhook
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming webhook URL"
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, description="Slack bot token for chat.postMessage"
    )
    slack_channel: str | None = Field(
        default=None,
        description="Slack channel ID (C...) for chat.postMessage; with a #name, crash "
        "recovery cannot check the history and resends",
    )
    slack_api_base: str = Field(
        default="https://slack.com/api", description="Slack Web API base URL"
    )
    # Email
    smtp_host: str | None = Field(
        default=None, description="SMTP server host (email off when empty)"
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port")
    smtp_username: str | None = Field(default=None, description="SMTP login")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_starttls: bool = Field(
        default=True, description="upgrade the SMTP connection with STARTTLS"
    )
    smtp_implicit_tls: bool = Field(
        default=False, description="connect to SMTP over TLS from the start"
    )
    smtp_from: str | None = Field(default=None, description="sender address of notification emails")
    smtp_to: list[str] = Field(
        default_factory=list, description="recipients of notification emails"
    )
    # Generic webhook
    webhook_url: SecretStr | None = Field(
        default=None, description="generic webhook receiving signed JSON"
    )
    webhook_signing_secret: SecretStr | None = Field(
        default=None, description="HMAC key that signs the payloads sent to webhook_url"
    )
    webhook_allow_private: bool = Field(
        default=False, description="allow a webhook URL on a private or loopback address"
    )
    notify_http_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="timeout of one delivery request of a channel (Slack, webhook, SMTP), "
        "in seconds; at most outbox_lease_s / 4",
    )
    # Routing: severity -> channels; "digest" batches the incident into the periodic digest
    routes: dict[str, list[str]] = Field(
        default_factory=_default_routes,
        description="JSON map severity -> channels (SEV1 everywhere, low severities to the digest)",
    )
    digest_channels: list[Channel] = Field(
        default_factory=_slack_email,
        description="channels that receive the digest of low-severity incidents",
    )
    digest_interval_s: float = Field(default=900.0, gt=0, description="seconds between digests")
    # Outbox delivery
    outbox_batch_size: int = Field(
        default=20, ge=1, le=500, description="notifications claimed per dispatcher pass"
    )
    outbox_poll_interval_s: float = Field(
        default=1.0, gt=0, description="seconds between outbox polls"
    )
    outbox_max_attempts: int = Field(
        default=8, ge=1, description="delivery attempts before a notification is marked failed"
    )
    outbox_backoff_base_s: float = Field(default=2.0, ge=0, description="first retry delay")
    outbox_backoff_max_s: float = Field(default=600.0, ge=0, description="longest retry delay")
    outbox_lease_s: float = Field(
        default=120.0,
        gt=0,
        description="seconds a dispatcher owns a claimed notification; a crashed one's expire",
    )
    # Escalation of unacknowledged incidents, and overdue playbook steps
    escalation_tiers: list[EscalationTier] = Field(
        default_factory=list,
        description="JSON list of tiers notified when an incident stays unacknowledged",
    )
    overdue_channels: list[Channel] = Field(
        default_factory=_slack_only, description="channels re-notified about overdue playbook steps"
    )
    role_contacts: dict[str, RoleContact] = Field(
        default_factory=dict, description="playbook owner role -> Slack channel / emails"
    )
    housekeeping_interval_s: float = Field(
        default=30.0, gt=0, description="seconds between escalation/overdue/digest checks"
    )

    @model_validator(mode="after")
    def _check(self) -> NotifySettings:
        if self.slack_bot_token is not None and not self.slack_channel:
            raise ValueError("slack_bot_token needs slack_channel (chat.postMessage target)")
        if self.smtp_host and (not self.smtp_from or not self.smtp_to):
            raise ValueError("smtp_host needs smtp_from and at least one smtp_to address")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("smtp_username and smtp_password must be set together")
        if self.smtp_starttls and self.smtp_implicit_tls:
            raise ValueError("choose one of smtp_starttls and smtp_implicit_tls")
        if self.webhook_url is not None and self.webhook_signing_secret is None:
            raise ValueError("webhook_url needs webhook_signing_secret (payloads are signed)")
        if self.outbox_backoff_max_s < self.outbox_backoff_base_s:
            raise ValueError("outbox_backoff_max_s must be >= outbox_backoff_base_s")
        if self.outbox_lease_s < 4 * self.notify_http_timeout_s:
            # A send may be preceded by a delivery check; both must end well inside the lease,
            # or another dispatcher takes the row over while it is still being sent.
            raise ValueError("outbox_lease_s must be at least 4 x notify_http_timeout_s")
        for severity, targets in self.routes.items():
            if severity not in SEVERITIES:
                raise ValueError(f"routes: unknown severity {severity!r}, use {SEVERITIES}")
            unknown = [t for t in targets if t not in (*CHANNELS, DIGEST)]
            if unknown:
                raise ValueError(f"routes.{severity}: unknown channels {unknown}")
        afters = [tier.after_s for tier in self.escalation_tiers]
        if afters != sorted(set(afters)):
            raise ValueError("escalation_tiers must have strictly increasing after_s")
        return self

    def enabled_channels(self) -> set[str]:
        """Return the channels that have a destination configured."""
        enabled: set[str] = set()
        if self.slack_webhook_url is not None or self.slack_bot_token is not None:
            enabled.add("slack")
        if self.smtp_host:
            enabled.add("email")
        if self.webhook_url is not None:
            enabled.add("webhook")
        return enabled

    def route(
        self, severity: str, overrides: dict[str, list[str]] | None = None
    ) -> tuple[list[str], bool]:
        """Return (enabled channels for immediate delivery, whether to add to the digest).

        `overrides` (a brand's own routes) replace `routes` for the severities they list.
        """
        routes = {**self.routes, **(overrides or {})}
        targets = routes.get(severity, routes.get("SEV1", []))
        enabled = self.enabled_channels()
        return [t for t in targets if t in enabled], DIGEST in targets
