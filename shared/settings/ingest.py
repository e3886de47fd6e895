"""Settings of the ingest service: push endpoint, watchlists, connectors and their secrets."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from shared.settings.common import CommonSettings

DEV_PSEUDONYM_SECRET = "crisiswatch-development-only-pseudonym-key"  # noqa: S105 - documented dev default


class IngestSettings(CommonSettings):
    """HTTP push endpoint, pseudonymisation, watchlists, connectors and limits of ingest."""

    ingest_host: str = Field(default="127.0.0.1", description="ingest HTTP listen address")
    ingest_port: int = Field(default=8081, ge=1, le=65535, description="ingest HTTP port")
    pseudonym_secret: SecretStr = Field(
        default=SecretStr(DEV_PSEUDONYM_SECRET),
        description="HMAC key that turns platform author ids into pseudonymous ids",
    )
    keep_raw_handles: bool = Field(
        default=False, description="store raw author handles (needs a lawful basis)"
    )
    max_batch_items: int = Field(
        default=1000, ge=1, le=100_000, description="items per pushed batch"
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="largest accepted push body"
    )
    max_text_chars: int = Field(
        default=10_000, ge=100, le=40_000, description="longer texts are truncated and flagged"
    )
    kafka_send_timeout_s: float = Field(
        default=10.0, gt=0, description="wait this long for Kafka before answering 503"
    )
    retry_after_s: int = Field(
        default=5, ge=1, le=3600, description="Retry-After seconds sent with a 503"
    )

    # Watchlists
    watchlist_dir: Path | None = Field(
        default=None,
        description="directory of brand watchlist YAML files (a brand's stored watchlist "
        "replaces its file); none: only the stored watchlists",
    )
    watchlist_poll_s: float = Field(
        default=5.0,
        gt=0,
        description="how often the watchlist files and the stored watchlists are checked for "
        "changes (the bound on how stale matching can be)",
    )
    # Push authentication: one scheme for the API's and the ingest service's push route
    ingest_require_auth: bool = Field(
        default=True,
        description="refuse pushes without a credential (401): an ingest/admin API key, a "
        "static key or a signature; false only for local development and demos",
    )
    push_hmac_secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key checking X-Crisiswatch-Signature of pushes to ingest",
    )
    ingest_api_keys: list[SecretStr] = Field(
        default_factory=list, description="API keys accepted in X-API-Key (JSON list)"
    )
    signature_max_age_s: int = Field(
        default=300, ge=1, le=3600, description="replay window of signed pushes, in seconds"
    )
    # Connectors, shared behaviour
    fetch_allow_private: bool = Field(
        default=False, description="let connectors fetch private/loopback addresses (tests only)"
    )
    backoff_scale: float = Field(
        default=1.0, gt=0, le=1.0, description="multiplier of reconnect waits (tests shrink it)"
    )
    dedupe_max_items: int = Field(
        default=200_000, ge=100, description="identities remembered for de-duplication"
    )
    dedupe_ttl_s: float = Field(default=6 * 3600, gt=0, description="how long they are remembered")
    connector_http_timeout_s: float = Field(
        default=30.0, gt=0, description="timeout of the connectors' HTTP requests, in seconds"
    )
    disabled_sources: list[str] = Field(
        default_factory=list, description="connectors not to run even when subscribed (JSON list)"
    )
    # Connector leases: one replica at a time runs each connector
    ingest_replica_id: str | None = Field(
        default=None,
        max_length=256,
        description="name of this ingest replica in the connector leases; none: hostname-pid",
    )
    connector_lease_ttl_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="a connector lease not renewed for this long is taken over by another "
        "replica (the longest pause of a source after its holder crashes)",
    )
    connector_lease_renew_s: float = Field(
        default=10.0,
        gt=0,
        description="how often the holder renews its connector leases (at most a third of the ttl)",
    )
    # Reddit
    reddit_base_url: str = Field(default="https://oauth.reddit.com", description="Reddit API")
    reddit_token: SecretStr | None = Field(default=None, description="Reddit OAuth bearer token")
    reddit_user_agent: str = Field(
        default="crisiswatch/0.1 (social listening)", description="User-Agent Reddit requires"
    )
    reddit_poll_s: float = Field(default=30.0, gt=0, description="seconds between Reddit polls")
    reddit_max_pages: int = Field(default=5, ge=1, le=50, description="pages followed per poll")
    # RSS / Atom
    rss_poll_s: float = Field(default=300.0, gt=0, description="seconds between feed polls")
    # Mastodon
    mastodon_base_url: str | None = Field(default=None, description="Mastodon instance URL")
    mastodon_token: SecretStr | None = Field(default=None, description="Mastodon access token")
    # Bluesky Jetstream
    jetstream_url: str = Field(
        default="wss://jetstream2.us-east.bsky.network/subscribe",
        description="Jetstream subscribe endpoint",
    )
    jetstream_rewind_s: float = Field(
        default=5.0, ge=0, description="seconds the stored cursor is rewound on resume"
    )
    jetstream_enabled: bool = Field(default=False, description="follow the Bluesky firehose")
    # X API v2
    x_base_url: str = Field(default="https://api.x.com", description="X API base URL")
    x_bearer_token: SecretStr | None = Field(default=None, description="X app bearer token")
    x_stream_timeout_s: float = Field(
        default=30.0, gt=0, description="silence (no keep-alive) after which X reconnects"
    )
    # Meta Graph webhooks
    meta_app_secret: SecretStr | None = Field(
        default=None, description="Meta app secret checking X-Hub-Signature-256"
    )
    meta_verify_token: SecretStr | None = Field(
        default=None, description="token Meta echoes in the hub.verify_token handshake"
    )
    meta_graph_base_url: str = Field(
        default="https://graph.facebook.com/v21.0",
        description="Graph API base URL (fetches the text of Instagram mentions)",
    )
    meta_access_token: SecretStr | None = Field(
        default=None, description="Graph API access token of the Instagram account"
    )
    meta_ig_user_id: str | None = Field(
        default=None, description="Instagram professional account id the mentions are read as"
    )
    meta_graph_retries: int = Field(
        default=3, ge=0, le=10, description="retries of a Graph fetch on network errors, 429, 5xx"
    )

    def replica_id(self) -> str:
        """This replica's name in the connector leases (the setting, else hostname-pid)."""
        return self.ingest_replica_id or f"{socket.gethostname()}-{os.getpid()}"

    @model_validator(mode="after")
    def _lease_renewed_in_time(self) -> IngestSettings:
        # Three renewals per ttl: a holder whose renewal fails still has a whole renew
        # interval of lease left to finish the batch in flight before anyone may take over.
        if self.connector_lease_renew_s * 3 > self.connector_lease_ttl_s:
            raise ValueError(
                "CRISISWATCH_CONNECTOR_LEASE_RENEW_S must be at most a third of "
                "CRISISWATCH_CONNECTOR_LEASE_TTL_S"
            )
        return self

    @model_validator(mode="after")
    def _secret_long_enough(self) -> IngestSettings:
        if len(self.pseudonym_secret.get_secret_value()) < 16:
            raise ValueError("CRISISWATCH_PSEUDONYM_SECRET must be at least 16 characters")
        return self
