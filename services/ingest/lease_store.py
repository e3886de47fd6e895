"""Connector leases in PostgreSQL (`connector_leases`): one row per connector, locked while
a grant, a renewal or a fenced cursor write decides (`core/lease.py`) on it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.ingest.core import lease as rules
from services.ingest.core.lease import Grant, Lease, LeaseRow
from shared.db.engine import transaction
from shared.db.models import ConnectorLeaseRow
from shared.errors import Conflict, InfraError

DB_ERRORS = (OSError, DBAPIError, OperationalError)


class LeaseLost(Conflict):
    """This replica's lease on a connector was taken over or released: stop, write nothing."""


class LeaseStore(Protocol):
    """Grants, renews and releases connector leases."""

    async def acquire(self, source: str, *, replica: str, ttl_s: float) -> Lease | None:
        """A new grant of `source` to `replica`, or None while another replica holds it."""
        ...

    async def renew(self, lease: Lease, *, ttl_s: float) -> Lease | None:
        """`lease` with a later expiry, or None when it was lost."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give `lease` up so another replica may take it at once (no-op when lost)."""
        ...


class PgLeaseStore:
    """`LeaseStore` on the `connector_leases` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def acquire(self, source: str, *, replica: str, ttl_s: float) -> Lease | None:
        """A new grant of `source` to `replica`, or None while another replica holds it."""
        placeholder = insert(ConnectorLeaseRow).values(
            source=source, holder=None, token=0, expires_at=func.clock_timestamp()
        )
        try:
            async with transaction(self._engine) as session:
                # The placeholder makes the row lockable when two replicas start at once.
                await session.execute(placeholder.on_conflict_do_nothing())
                row, now = await locked_row(session, source, exclusive=True)
                decision = rules.acquire(row, replica=replica, now=now, ttl=_ttl(ttl_s))
                if not isinstance(decision, Grant):
                    return None
                await session.execute(
                    update(ConnectorLeaseRow)
                    .where(ConnectorLeaseRow.source == source)
                    .values(
                        holder=replica,
                        token=decision.token,
                        expires_at=decision.expires_at,
                        acquired_at=now,
                    )
                )
        except DB_ERRORS as exc:
            raise InfraError(f"cannot acquire lease {source!r}: {type(exc).__name__}") from exc
        return Lease(source, replica, decision.token, decision.expires_at, decision.takeover)

    async def renew(self, lease: Lease, *, ttl_s: float) -> Lease | None:
        """`lease` with a later expiry, or None when it was lost."""
        try:
            async with transaction(self._engine) as session:
                row, now = await locked_row(session, lease.source, exclusive=True)
                expires_at = rules.renew(row, lease, now=now, ttl=_ttl(ttl_s))
                if expires_at is None:
                    return None
                await session.execute(
                    update(ConnectorLeaseRow)
                    .where(ConnectorLeaseRow.source == lease.source)
                    .values(expires_at=expires_at)
                )
        except DB_ERRORS as exc:
            raise InfraError(f"cannot renew lease {lease.source!r}: {type(exc).__name__}") from exc
        return Lease(lease.source, lease.holder, lease.token, expires_at, lease.takeover)

    async def release(self, lease: Lease) -> None:
        """Give `lease` up so another replica may take it at once (no-op when lost)."""
        try:
            async with transaction(self._engine) as session:
                await session.execute(
                    update(ConnectorLeaseRow)
                    .where(
                        ConnectorLeaseRow.source == lease.source,
                        ConnectorLeaseRow.holder == lease.holder,
                        ConnectorLeaseRow.token == lease.token,
                    )
                    .values(holder=None, expires_at=func.clock_timestamp())
                )
        except DB_ERRORS as exc:
            reason = type(exc).__name__
            raise InfraError(f"cannot release lease {lease.source!r}: {reason}") from exc

    async def current(self, source: str) -> LeaseRow | None:
        """The lease row of `source` as it is now (operations and tests)."""
        async with transaction(self._engine) as session:
            row, _ = await locked_row(session, source, exclusive=False)
        return row


async def locked_row(
    session: AsyncSession, source: str, *, exclusive: bool
) -> tuple[LeaseRow | None, datetime]:
    """The lease row of `source`, locked until the transaction ends, and the database time.

    `exclusive` for a grant or renewal; shared for a fenced write, so a takeover waits for
    the write in flight and the new holder reads the cursor that write left.
    """
    query = select(
        ConnectorLeaseRow.holder,
        ConnectorLeaseRow.token,
        ConnectorLeaseRow.expires_at,
        func.clock_timestamp(),
    ).where(ConnectorLeaseRow.source == source)
    found = (await session.execute(query.with_for_update(read=not exclusive))).first()
    if found is None:
        now = await session.scalar(select(func.clock_timestamp()))
        assert now is not None
        return None, now
    holder, token, expires_at, now = found
    return LeaseRow(holder, token, expires_at), now


def _ttl(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
