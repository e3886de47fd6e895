"""Email over SMTP (aiosmtplib): multipart text + HTML with its charts inline (cid)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
from pydantic import SecretStr

from services.alerting.notify.channels.base import (
    PermanentDeliveryError,
    Redelivery,
    TransientDeliveryError,
)
from services.alerting.notify.chart import render_chart_payload, render_chart_spec
from services.alerting.notify.content import CHART_CID
from services.alerting.notify.threads import message_id

__all__ = ["SmtpNotifier", "build_email", "message_id"]


def build_email(
    payload: Mapping[str, Any], *, sender: str, recipients: Sequence[str], idempotency_key: str
) -> EmailMessage:
    """Build multipart/alternative (text, HTML + inline PNG) with a stable Message-ID."""
    msg = EmailMessage()
    msg["Subject"] = payload["subject"]
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    # Derived from the outbox key, so a resend after a crash carries the same Message-ID.
    msg["Message-ID"] = message_id(idempotency_key)
    # An update of an incident replies to its first email (`notify.threads`).
    if payload.get("in_reply_to"):
        msg["In-Reply-To"] = payload["in_reply_to"]
        msg["References"] = payload.get("references") or payload["in_reply_to"]
    msg.set_content(payload["text"])
    msg.add_alternative(payload["html"], subtype="html")
    images: list[tuple[bytes, str, str]] = []
    chart = payload.get("chart")
    if chart and chart.get("points"):
        images.append((render_chart_payload(chart), CHART_CID, "chart.png"))
    # A digest's charts (`charts`: specs with their cid), each an inline PNG.
    for spec in payload.get("charts") or []:
        images.append((render_chart_spec(spec), spec["cid"], f"{spec['name']}.png"))
    if images:
        html_part = msg.get_payload()[1]  # type: ignore[index]
        assert isinstance(html_part, EmailMessage)
        for png, cid, filename in images:
            html_part.add_related(
                png, "image", "png", cid=f"<{cid}>", filename=filename, disposition="inline"
            )
    return msg


class SmtpNotifier:
    """Sends one email per notification; STARTTLS/implicit TLS and auth are configurable.

    SMTP cannot be asked what it already accepted; a resend after a crash carries the same
    Message-ID, so the repeat is recognisable (mail stores such as Gmail collapse it).
    """

    channel = "email"
    redelivery: Redelivery = "same_message_id"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = True,
        implicit_tls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._recipients = list(recipients)
        self._username = username
        self._password = password
        self._starttls = starttls
        self._implicit_tls = implicit_tls
        self._timeout_s = timeout_s

    async def start(self) -> None:
        """Nothing to open: each send uses its own SMTP session."""

    async def send(self, payload: Mapping[str, Any], *, idempotency_key: str) -> None:
        """Send the email; `payload["to"]` overrides the default recipients."""
        recipients = list(payload.get("to") or self._recipients)
        message = build_email(
            payload, sender=self._sender, recipients=recipients, idempotency_key=idempotency_key
        )
        try:
            await aiosmtplib.send(
                message,
                sender=self._sender,
                recipients=recipients,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password.get_secret_value() if self._password else None,
                start_tls=self._starttls,
                use_tls=self._implicit_tls,
                timeout=self._timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"smtp: recipients refused {codes}") from None
            raise TransientDeliveryError(f"smtp: recipients deferred {codes}") from None
        except aiosmtplib.SMTPNotSupported:
            raise PermanentDeliveryError(
                "smtp: server does not support a required extension"
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            # Server replies can echo credentials back; keep only the code.
            if exc.code >= 500:
                raise PermanentDeliveryError(f"smtp: {type(exc).__name__} {exc.code}") from None
            raise TransientDeliveryError(f"smtp: {type(exc).__name__} {exc.code}") from None
        except aiosmtplib.SMTPConnectError as exc:
            raise TransientDeliveryError(f"smtp: {type(exc).__name__}") from None
        except (aiosmtplib.SMTPServerDisconnected, TimeoutError) as exc:
            # A timeout or a dropped connection mid-session may follow an accepted message.
            raise TransientDeliveryError(
                f"smtp: {type(exc).__name__}", maybe_delivered=True
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"smtp: {type(exc).__name__}") from None

    async def stop(self) -> None:
        """Nothing to close."""
