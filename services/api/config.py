"""Settings of the HTTP API process."""

from __future__ import annotations

from pydantic import Field

from services.ingest.config import IngestSettings


class ApiSettings(IngestSettings):
    """Where the API listens; it also serves the ingest push endpoint."""

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
