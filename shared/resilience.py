"""One resilience vocabulary for every worker and loop.

- `classify_db_error`: is a database error transient (retry), in the data (dead-letter the
  one record or row), or fatal (stop with a clear error)? By SQLSTATE, through SQLAlchemy's
  and the driver's wrappers.
- `default_on_db_error` and `OnDbError`: the injectable decision made from that answer,
  in the spirit of quix-streams' `on_processing_error` callbacks.
- `in_savepoint`: run one unit of work (a signal, an outbox row) in a savepoint, so a data
  error refuses that unit only and the transaction goes on.
- `Backoff`: exponential back-off with full jitter and a cap.
- `wait_or_stop`, `retrying` / `retry`: wait unless stopping; bounded retry loops (tenacity).
- `parse_retry_after`: the seconds an HTTP `Retry-After` header asks for.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_never,
)

from shared.errors import CrisiswatchError, InfraError

T = TypeVar("T")

DbErrorKind = Literal["transient", "data", "fatal"]
DB_ERROR_KINDS: tuple[DbErrorKind, ...] = ("transient", "data", "fatal")
# What to do with a failed unit of work: try it again later, send it to the dead-letter
# topic (or mark its row failed) with the reason, drop it with a log line, or stop.
ErrorAction = Literal["retry", "dead_letter", "skip", "raise"]
OnDbError = Callable[[BaseException], ErrorAction]

# Everything a database call can raise that `classify_db_error` has an answer for.
DB_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    InfraError,
    OSError,
)

# SQLSTATE classes and codes (PostgreSQL appendix A). Transient: connection exceptions (08),
# transaction rollbacks: serialization failures, deadlocks (40), insufficient resources (53).
_TRANSIENT_CLASSES = ("08", "40", "53")
_TRANSIENT_CODES = frozenset(
    {
        "55P03",  # lock_not_available (lock_timeout, NOWAIT)
        "57014",  # query_canceled: statement_timeout or a cancel; the statement can pass later
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, in recovery)
        "57P05",  # idle_session_timeout
    }
)
# Data: data exceptions (22: out of range, invalid text, NUL characters) and integrity
# violations (23). 54000 is a value too large for an index row or an array: the data too.
_DATA_CLASSES = ("22", "23")
_DATA_CODES = frozenset({"54000"})


class FatalDatabaseError(CrisiswatchError):
    """The database refused work in a way no retry can fix (schema, permissions, a bug)."""


class StopRequested(CrisiswatchError):
    """The stop event was set while waiting to retry: the work was not done."""


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of `exc` or of the error it wraps, if any carries one."""
    for err in _chain(exc):
        state = _own_sqlstate(err)
        if state is not None:
            return state
    return None


def classify_db_error(exc: BaseException) -> DbErrorKind:
    """Return whether a database error is transient, in the data, or fatal.

    The first error along the chain (the exception, SQLAlchemy's `.orig`, then causes and
    contexts) that says something definite decides: a SQLSTATE, one of the driver's own
    connection or encoding errors, an OS-level error, or a connection SQLAlchemy found
    dead. Generic wrappers decide only when nothing below them does. A rollback that fails
    after a data error because the connection dropped is transient: the retry will meet
    the data error again and decide then.
    """
    chain = _chain(exc)
    for err in chain:
        kind = _definite(err)
        if kind is not None:
            return kind
    for err in chain:
        if isinstance(err, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return "transient"
        if isinstance(err, (sa_exc.DataError, sa_exc.IntegrityError)):
            return "data"
    return "fatal"


def describe_db_error(exc: BaseException) -> str:
    """One line naming the error for a log or a dead letter: SQLSTATE, class, message."""
    chain = _chain(exc)
    # The driver's own error names the problem best (UntranslatableCharacterError...), and
    # unlike SQLAlchemy's its message holds neither the statement nor the parameter list.
    err = next(
        (e for e in chain if isinstance(e, (asyncpg.PostgresError, asyncpg.InterfaceError))),
        next((e for e in chain if _definite(e) is not None), exc),
    )
    state = _own_sqlstate(err)
    message = str(err).splitlines()[0] if str(err) else ""
    text = f"{state + ' ' if state else ''}{type(err).__name__}: {message}".rstrip(": ")
    return text.replace("\x00", "\\0")[:300]


_ACTIONS: dict[DbErrorKind, ErrorAction] = {
    "transient": "retry",
    "data": "dead_letter",
    "fatal": "raise",
}


def default_on_db_error(exc: BaseException) -> ErrorAction:
    """Retry transient errors, dead-letter data errors, raise fatal ones."""
    return _ACTIONS[classify_db_error(exc)]


def fatal(where: str, exc: BaseException) -> FatalDatabaseError:
    """The error that stops a service after `where` met a database error no retry can fix."""
    return FatalDatabaseError(
        f"{where}: the database refused the work ({describe_db_error(exc)}); retrying cannot "
        "fix this (schema, permissions or a bug), stopping"
    )


@dataclass(frozen=True, slots=True)
class Refused:
    """A unit of work the database refused for good: its savepoint was rolled back."""

    action: ErrorAction  # "dead_letter" or "skip"
    kind: DbErrorKind
    reason: str


async def in_savepoint(
    session: AsyncSession,
    work: Callable[[], Awaitable[T]],
    *,
    on_db_error: OnDbError = default_on_db_error,
) -> T | Refused:
    """Run `work` in a savepoint of `session`'s transaction; `Refused` when it is refused.

    Errors `on_db_error` wants retried or raised propagate: the caller's transaction is
    retried or abandoned as a whole.
    """
    try:
        async with session.begin_nested():
            result = await work()
            await session.flush()
        return result
    except DB_ERRORS as exc:
        action = on_db_error(exc)
        if action in ("dead_letter", "skip"):
            return Refused(action, classify_db_error(exc), describe_db_error(exc))
        raise


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc`, the driver error SQLAlchemy wraps, and their causes and contexts (bounded)."""
    chain: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(chain) < 8:
        err = todo.pop(0)
        if err is None or any(err is seen for seen in chain):
            continue
        chain.append(err)
        orig = err.orig if isinstance(err, sa_exc.DBAPIError) else None
        todo += [orig, err.__cause__, err.__context__]
    return chain


def _own_sqlstate(err: BaseException) -> str | None:
    # asyncpg and SQLAlchemy's asyncpg adapter say `sqlstate`; psycopg says `pgcode`.
    for attr in ("sqlstate", "pgcode"):
        state = getattr(err, attr, None)
        if isinstance(state, str) and len(state) == 5:
            return state
    return None


def _by_sqlstate(state: str) -> DbErrorKind:
    if state.startswith(_TRANSIENT_CLASSES) or state in _TRANSIENT_CODES:
        return "transient"
    if state.startswith(_DATA_CLASSES) or state in _DATA_CODES:
        return "data"
    return "fatal"  # 42 syntax or undefined object, 28 authorization, 3D no database...


def _definite(err: BaseException) -> DbErrorKind | None:
    state = _own_sqlstate(err)
    if state is not None:
        return _by_sqlstate(state)
    if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
        return "transient"
    if isinstance(err, asyncpg.InterfaceError):
        # The driver's own DataError is a parameter it could not encode (an int out of
        # range, a wrong type); its other interface errors are a closed connection.
        return "data" if isinstance(err, ValueError) else "transient"
    if isinstance(err, asyncpg.exceptions.OutdatedSchemaCacheError):
        return "transient"  # a prepared statement outlived a schema change: prepare again
    if isinstance(err, (OSError, InfraError, sa_exc.TimeoutError)):
        return "transient"  # refused, reset, timed out, unreachable, pool exhausted
    return None


class Backoff:
    """Exponential back-off with full jitter: attempt n waits U(0, min(cap, base * factor^n)).

    Full jitter spreads the retries of many clients over the whole window, so a recovering
    dependency is not hit by all of them at once. `jitter=False` gives the ceiling itself,
    for schedules a platform prescribes as minimum waits. `rng` returns a float in [0, 1)
    (inject a seeded one in tests).
    """

    __slots__ = ("attempts", "base_s", "cap_s", "factor", "jitter", "rng")

    def __init__(
        self,
        *,
        base_s: float,
        cap_s: float,
        factor: float = 2.0,
        jitter: bool = True,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if base_s < 0 or cap_s < base_s or factor < 1:
            raise ValueError("need 0 <= base_s <= cap_s and factor >= 1")
        self.base_s = base_s
        self.cap_s = cap_s
        self.factor = factor
        self.jitter = jitter
        self.rng = rng
        self.attempts = 0

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (0 for the first failure)."""
        if attempt <= 0:
            return self.base_s
        try:
            return min(self.cap_s, self.base_s * math.pow(self.factor, attempt))
        except OverflowError:
            return self.cap_s

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt`, jittered."""
        ceiling = self.ceiling(attempt)
        return ceiling * self.rng() if self.jitter else ceiling

    def next_delay(self) -> float:
        """The wait after one more failure (counted here until `reset`)."""
        wait = self.delay(self.attempts)
        self.attempts += 1
        return wait

    def reset(self) -> None:
        """The work succeeded: the next failure waits like the first."""
        self.attempts = 0


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` unless `stop` is set first; True when stopping."""
    if seconds <= 0 or stop.is_set():
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def retrying(
    *,
    retry_if: Callable[[BaseException], bool],
    backoff: Backoff,
    stop: asyncio.Event | None = None,
    attempts: int | None = None,
    retry_after: Callable[[BaseException], float | None] | None = None,
    before_sleep: Callable[[BaseException, float, int], None] | None = None,
) -> AsyncRetrying:
    """A tenacity retry loop: `async for attempt in retrying(...): with attempt: ...`.

    Retries while `retry_if(error)` holds, at most `attempts` tries in all when given (else
    until it succeeds), waiting `backoff` or what the error asks for (`retry_after`, e.g. a
    `Retry-After` header), whichever is longer. The last error is raised when it is not
    retryable or the tries are used up; `StopRequested` when `stop` is set while waiting.
    `before_sleep(error, seconds, attempt)` is told about each retry (log, count, pause).
    """

    def wait(state: RetryCallState) -> float:
        seconds = backoff.delay(state.attempt_number - 1)
        error = state.outcome.exception() if state.outcome is not None else None
        hint = retry_after(error) if retry_after is not None and error is not None else None
        return max(seconds, hint) if hint is not None else seconds

    async def sleep(seconds: float) -> None:
        if stop is None:
            await asyncio.sleep(seconds)
        elif await wait_or_stop(stop, seconds):
            raise StopRequested("stopped while waiting to retry")

    def told(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        # `next_action` holds the wait before the next try (set before `before_sleep` runs).
        seconds = state.next_action.sleep if state.next_action is not None else 0.0
        if before_sleep is not None and error is not None:
            before_sleep(error, seconds, state.attempt_number)

    return AsyncRetrying(
        retry=retry_if_exception(retry_if),
        wait=wait,
        stop=stop_after_attempt(attempts) if attempts is not None else stop_never,
        sleep=sleep,
        before_sleep=told,
        reraise=True,
    )


async def retry(
    step: Callable[[], Awaitable[T]],
    *,
    retry_if: Callable[[BaseException], bool],
    backoff: Backoff,
    stop: asyncio.Event | None = None,
    attempts: int | None = None,
    retry_after: Callable[[BaseException], float | None] | None = None,
    before_sleep: Callable[[BaseException, float, int], None] | None = None,
) -> T:
    """Await `step()` under `retrying(...)` (same arguments); return its result."""
    loop = retrying(
        retry_if=retry_if,
        backoff=backoff,
        stop=stop,
        attempts=attempts,
        retry_after=retry_after,
        before_sleep=before_sleep,
    )

    # tenacity calls a function that is not declared `async def` without awaiting what it
    # returns: a lambda returning a coroutine would "succeed" at once and never run.
    async def attempt() -> T:
        return await step()

    result: T = await loop(attempt)
    return result


def parse_retry_after(
    value: str | None, *, now: datetime | None = None, max_s: float = 3600.0
) -> float | None:
    """Seconds a `Retry-After` header value asks to wait (delta-seconds or an HTTP date).

    None when absent or unusable; bounded to [0, `max_s`] so a hostile server cannot park a
    client for days.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), max_s)
