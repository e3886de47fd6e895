"""One delivery attempt of an outbox row, the recovery of a row in doubt, and their metrics.

A row is in doubt when an earlier attempt may have reached the receiver; before it is sent
again, `recover` asks the channel when it can tell (`DeliveryCheck`) or says what a resend
will do (`Notifier.redelivery`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.alerting.notify.channels.base import DeliveryCheck, DeliveryError, Notifier

log = logging.getLogger(__name__)

RecoveryOutcome = Literal[
    "confirmed",  # the channel had it: marked sent without sending again
    "not_delivered",  # the channel did not have it: sent once
    "deduplicated",  # resent; the receiver drops a repeated idempotency key
    "same_message_id",  # resent with the same Message-ID
    "possibly_repeated",  # resent; the receiver may show it twice
    "check_failed",  # the channel could not answer; resent, possibly a repeat
]
RECOVERY_OUTCOMES: tuple[RecoveryOutcome, ...] = (
    "confirmed",
    "not_delivered",
    "deduplicated",
    "same_message_id",
    "possibly_repeated",
    "check_failed",
)
_MAYBE_REPEATED = frozenset({"same_message_id", "possibly_repeated", "check_failed"})
# Rows' times are the database's clock and Slack's are its own: search a little earlier.
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """An outbox row this dispatcher holds the lease on, for attempt number `attempts`."""

    id: int
    incident_id: int | None
    channel: str
    dedupe_key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    first_attempt_at: datetime
    in_doubt: bool
    doubt: str | None  # why an earlier attempt may have reached the receiver


@dataclass(frozen=True, slots=True)
class InDoubtResolution:
    """How an in-doubt row was handled, and why it was in doubt."""

    outcome: RecoveryOutcome
    reason: str

    @property
    def possibly_repeated(self) -> bool:
        """Whether people may see the message twice."""
        return self.outcome in _MAYBE_REPEATED


@dataclass(frozen=True, slots=True)
class Attempt:
    """The result of delivering one claimed row: `error` is None when it was delivered."""

    error: DeliveryError | None
    recovery: InDoubtResolution | None = None


class OutboxMetrics:
    """Deliveries per channel and outcome, recoveries of in-doubt rows, time to delivery."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "crisiswatch_notify_deliveries_total",
            "Notification delivery attempts, per channel and outcome (sent, retry, failed).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "crisiswatch_notify_delivery_seconds",
            "Seconds from enqueue to successful delivery, per channel.",
            ["channel"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )
        self.recoveries = Counter(
            "crisiswatch_notify_recoveries_total",
            "Notifications delivered after an interrupted attempt, per channel and how "
            "(confirmed, not_delivered, deduplicated, same_message_id, possibly_repeated, "
            "check_failed).",
            ["channel", "outcome"],
            registry=registry,
        )

    def prime(self, channels: Iterable[str]) -> None:
        """Export zero-valued series for each configured channel, so rates and alerts evaluate."""
        for channel in channels:
            for outcome in ("sent", "retry", "failed"):
                self.deliveries.labels(channel, outcome)
            self.latency.labels(channel)
            for recovery in RECOVERY_OUTCOMES:
                self.recoveries.labels(channel, recovery)


async def recover(notifier: Notifier, row: ClaimedRow) -> InDoubtResolution:
    """Ask the channel whether an in-doubt row arrived, or say what a resend will do."""
    reason = row.doubt or "an earlier attempt may have been delivered"
    if not isinstance(notifier, DeliveryCheck):
        return InDoubtResolution(notifier.redelivery, reason)
    try:
        delivered = await notifier.already_delivered(
            row.payload,
            idempotency_key=row.dedupe_key,
            since=row.first_attempt_at - _CLOCK_SKEW,
        )
    except DeliveryError as exc:
        log.warning("notification %d: delivery check failed (%s); resending", row.id, exc)
        return InDoubtResolution("check_failed", f"{reason}; the delivery check failed: {exc}")
    return InDoubtResolution("confirmed" if delivered else "not_delivered", reason)
