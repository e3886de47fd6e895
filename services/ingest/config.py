"""Settings of the ingest service."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.settings import CommonSettings

DEV_PSEUDONYM_SECRET = "crisiswatch-development-only-pseudonym-key"  # noqa: S105 - documented dev default


class IngestSettings(CommonSettings):
    """HTTP push endpoint, pseudonymisation and limits of the ingest service."""

    ingest_host: str = "127.0.0.1"
    ingest_port: int = Field(default=8081, ge=1, le=65535)
    pseudonym_secret: SecretStr = Field(
        default=SecretStr(DEV_PSEUDONYM_SECRET),
        description="HMAC key that turns platform author ids into pseudonymous ids",
    )
    keep_raw_handles: bool = Field(
        default=False, description="store raw author handles (needs a lawful basis)"
    )
    max_batch_items: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_text_chars: int = Field(default=10_000, ge=100, le=40_000)
    kafka_send_timeout_s: float = Field(default=10.0, gt=0)
    retry_after_s: int = Field(default=5, ge=1, le=3600)

    @model_validator(mode="after")
    def _secret_long_enough(self) -> IngestSettings:
        if len(self.pseudonym_secret.get_secret_value()) < 16:
            raise ValueError("CRISISWATCH_PSEUDONYM_SECRET must be at least 16 characters")
        return self
