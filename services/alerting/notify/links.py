"""The links of one incident's notifications: its room on the API, signed in for a while."""

from __future__ import annotations

import time

from services.alerting.notify.content import Links, incident_links
from services.alerting.room.tokens import link_token
from shared.settings.notify import NotifySettings


def notification_links(settings: NotifySettings, incident_id: int) -> Links:
    """Links to the incident room carrying a sign-in token valid `room_link_ttl_s`."""
    token = link_token(
        settings.room_secret.get_secret_value().encode(),
        incident_id=incident_id,
        role=settings.room_link_role,
        ttl_s=settings.room_link_ttl_s,
        now=time.time(),
    )
    return incident_links(settings.api_base_url, incident_id, settings.grafana_url, sign_in=token)
