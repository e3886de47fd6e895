"""Settings of the links in notifications, shared by the alerting and API sections.

The alerting worker writes the links (to the API's incident room, with a sign-in token);
the API checks the tokens and the room's sessions. Both read the same fields, declared
once here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared.settings.base import SettingsBase

DEV_ROOM_SECRET = "crisiswatch-development-room-secret"  # noqa: S105 - refused in production


class LinkSettings(SettingsBase):
    """Where notification links point and how they sign the reader in to the incident room."""

    api_base_url: str = Field(
        default="http://127.0.0.1:8080",
        description="public base URL of the API (its api_port); notification links open its "
        "incident room at /incidents/<id>",
    )
    room_secret: SecretStr = Field(
        default=SecretStr(DEV_ROOM_SECRET),
        description="HMAC key of the sign-in links in notifications and of incident-room "
        "sessions (same value for the alerting worker and the API)",
    )
    room_link_ttl_s: int = Field(
        default=24 * 3600,
        ge=60,
        le=7 * 24 * 3600,
        description="seconds a notification's sign-in link stays valid",
    )
    room_link_role: Literal["viewer", "responder"] = Field(
        default="viewer",
        description="role a sign-in link grants on its incident (responder: may act); "
        "a session from an API key has the key's role",
    )
    room_session_ttl_s: int = Field(
        default=12 * 3600, ge=60, description="seconds an incident-room session lasts"
    )

    @model_validator(mode="after")
    def _check_links(self) -> LinkSettings:
        if len(self.room_secret.get_secret_value()) < 16:
            raise ValueError("CRISISWATCH_ROOM_SECRET must be at least 16 characters")
        return self
