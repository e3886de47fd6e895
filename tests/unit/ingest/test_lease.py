"""The connector lease rules: who is granted a lease, who may renew it and write cursors."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.ingest.core.lease import Busy, Grant, Lease, LeaseRow, acquire, holds, renew
from shared.settings.ingest import IngestSettings

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def test_a_lease_nobody_had_is_granted_with_the_first_token() -> None:
    assert acquire(None, replica="a", now=NOW, ttl=TTL) == Grant(1, NOW + TTL, takeover=False)


def test_a_held_lease_is_busy_until_it_expires_then_taken_over_with_a_new_token() -> None:
    row = LeaseRow("a", 4, NOW + timedelta(seconds=5))
    assert acquire(row, replica="b", now=NOW, ttl=TTL) == Busy("a", NOW + timedelta(seconds=5))
    later = NOW + timedelta(seconds=5)
    assert acquire(row, replica="b", now=later, ttl=TTL) == Grant(5, later + TTL, takeover=True)


def test_a_released_lease_is_granted_at_once_and_is_no_takeover() -> None:
    row = LeaseRow(None, 7, NOW + timedelta(seconds=20))
    assert acquire(row, replica="b", now=NOW, ttl=TTL) == Grant(8, NOW + TTL, takeover=False)


def test_asking_again_for_ones_own_lease_starts_a_new_term() -> None:
    # A replica restarted under the same name must fence off its earlier self.
    row = LeaseRow("a", 2, NOW + timedelta(seconds=20))
    assert acquire(row, replica="a", now=NOW, ttl=TTL) == Grant(3, NOW + TTL, takeover=False)


def test_only_the_current_grant_renews_and_writes() -> None:
    mine = Lease("reddit", "a", 3, NOW)
    assert holds(LeaseRow("a", 3, NOW), mine)
    assert renew(LeaseRow("a", 3, NOW), mine, now=NOW, ttl=TTL) == NOW + TTL
    taken = LeaseRow("b", 4, NOW + TTL)
    assert not holds(taken, mine)
    assert renew(taken, mine, now=NOW, ttl=TTL) is None
    # The same holder with a newer token (restarted under the same name) also fences it.
    assert not holds(LeaseRow("a", 4, NOW + TTL), mine)
    assert not holds(LeaseRow(None, 3, NOW), mine)  # released
    assert not holds(None, mine)


def test_an_expired_lease_nobody_took_is_still_held() -> None:
    # Nobody else can have run the connector since, so its holder may still write and renew.
    expired = LeaseRow("a", 3, NOW - timedelta(seconds=1))
    mine = Lease("reddit", "a", 3, NOW - timedelta(seconds=1))
    assert holds(expired, mine)
    assert renew(expired, mine, now=NOW, ttl=TTL) == NOW + TTL


def test_settings_refuse_a_renew_interval_over_a_third_of_the_ttl() -> None:
    with pytest.raises(ValidationError, match="at most a third"):
        IngestSettings(connector_lease_ttl_s=20.0, connector_lease_renew_s=10.0)
    settings = IngestSettings(connector_lease_ttl_s=3.0, connector_lease_renew_s=1.0)
    assert settings.replica_id() == f"{socket.gethostname()}-{os.getpid()}"
    assert IngestSettings(ingest_replica_id="ingest-0").replica_id() == "ingest-0"
