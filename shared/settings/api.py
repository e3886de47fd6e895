"""Settings of the HTTP API process."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings.common import CommonSettings
from shared.settings.links import LinkSettings


class ApiSettings(CommonSettings, LinkSettings):
    """Where the API listens, how it authenticates, limits and retains data.

    The API also serves the ingest push route; it is composed with the ingest section of
    the settings tree (`create_app(api, ingest)`), whose settings it does not redeclare.

    Authentication: every `/v1` query and admin endpoint always requires an API key
    (`X-API-Key` or `Authorization: Bearer`), roles viewer < responder < admin.
    `/healthz`, `/readyz` and `/metrics` never do. The push route `POST /v1/mentions` is
    the ingest service's own, with its one authentication (`PushAuthenticator`): a key of
    role `ingest` or `admin`, a static `ingest_api_keys` key or a signature, required unless
    `CRISISWATCH_INGEST_REQUIRE_AUTH=false` (local development and demos only).

    Market: the `market` filter of the trend endpoints selects the mentions of a country
    (set by the source, else mapped from the language by the watchlists).
    """

    api_host: str = Field(default="127.0.0.1", description="API listen address")
    api_port: int = Field(default=8080, ge=1, le=65535, description="API port")
    api_rate_per_s: float = Field(
        default=20.0, gt=0, description="requests per second per key and API process (replica)"
    )
    api_rate_burst: int = Field(
        default=100, ge=1, description="token bucket size per key and API process (replica)"
    )
    api_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="request body limit (push uses max_body_bytes)"
    )
    api_show_handles: bool = Field(
        default=False, description="return raw author handles in mention results (lawful basis)"
    )
    api_max_range_days: int = Field(default=400, ge=1, description="longest queryable range")
    retention_days: int = Field(
        default=365, ge=1, description="mentions older than this are deleted (rollups kept)"
    )
    retention_interval_s: float = Field(
        default=3600.0, ge=0, description="how often the API runs the purge; 0 disables it"
    )
    # Slack interactivity (buttons on incident messages, the /crisiswatch slash command)
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        description="Slack app signing secret; /v1/slack/* answers 401 to everything when unset",
    )
    slack_response_hosts: list[str] = Field(
        default_factory=lambda: ["hooks.slack.com"],
        description="JSON list of hosts a Slack response_url may point to (message updates)",
    )
    slack_response_allow_http: bool = Field(
        default=False,
        description="allow an http:// response_url (local Slack stand-ins in tests and demos)",
    )
