"""Connector leases, the decisions alone (no I/O): who may run a connector, and who may
write its cursors.

A lease row names its holder, a fencing token and when it expires. A replica is granted a
lease that is free, released, its own, or expired; every grant increases the token, so a
replica that lost the lease can be told apart from the one that holds it now. Renewing and
writing cursors need the token of the current grant: a stale holder is refused even when
the new holder has not written anything yet. Times are the database's, so the replicas'
clocks never have to agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """What the lease table holds for one connector."""

    holder: str | None
    token: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease one replica was granted; `takeover` when it was an expired holder's."""

    source: str
    holder: str
    token: int
    expires_at: datetime
    takeover: bool = False


class Grant(NamedTuple):
    """The lease is yours: write `token` and `expires_at`; `takeover` when an expired
    holder other than you had it."""

    token: int
    expires_at: datetime
    takeover: bool


class Busy(NamedTuple):
    """Another replica holds the lease until `expires_at`."""

    holder: str
    expires_at: datetime


def acquire(row: LeaseRow | None, *, replica: str, now: datetime, ttl: timedelta) -> Grant | Busy:
    """Grant the lease to `replica` unless another replica holds it unexpired.

    A replica asking again for its own lease gets a new token: its earlier term is over
    (a restart under the same name, or a round of connectors that ended).
    """
    if row is None:
        return Grant(1, now + ttl, takeover=False)
    if row.holder is None or row.holder == replica or row.expires_at <= now:
        takeover = row.holder is not None and row.holder != replica
        return Grant(row.token + 1, now + ttl, takeover=takeover)
    return Busy(row.holder, row.expires_at)


def holds(row: LeaseRow | None, lease: Lease) -> bool:
    """True while `lease` is the current grant: same holder, same token.

    An expired lease nobody took over yet still holds: no other replica can have run the
    connector since, so its writes are still in order.
    """
    return row is not None and row.holder == lease.holder and row.token == lease.token


def renew(row: LeaseRow | None, lease: Lease, *, now: datetime, ttl: timedelta) -> datetime | None:
    """The new expiry of `lease`, or None when it was lost (taken over or released)."""
    return now + ttl if holds(row, lease) else None
