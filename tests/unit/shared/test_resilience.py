"""shared.resilience: database error classes by SQLSTATE, jittered back-off, wait-or-stop, retries.

Classification uses asyncpg's own exception classes, raised and wrapped the way SQLAlchemy's
asyncpg adapter wraps them, so a SQLSTATE is read through every layer a worker sees.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime

import asyncpg
import asyncpg.exceptions as pg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi as dbapi

from shared.errors import InfraError
from shared.resilience import (
    Backoff,
    StopRequested,
    classify_db_error,
    default_on_db_error,
    describe_db_error,
    parse_retry_after,
    retry,
    sqlstate_of,
    wait_or_stop,
)

TRANSIENT = [
    pg.ConnectionDoesNotExistError,  # 08003
    pg.ConnectionFailureError,  # 08006
    pg.SerializationError,  # 40001
    pg.DeadlockDetectedError,  # 40P01
    pg.DiskFullError,  # 53100
    pg.TooManyConnectionsError,  # 53300
    pg.AdminShutdownError,  # 57P01
    pg.CrashShutdownError,  # 57P02
    pg.CannotConnectNowError,  # 57P03
    pg.LockNotAvailableError,  # 55P03
    pg.QueryCanceledError,  # 57014, statement_timeout
]
DATA = [
    pg.StringDataRightTruncationError,  # 22001
    pg.NumericValueOutOfRangeError,  # 22003
    pg.CharacterNotInRepertoireError,  # 22021, a NUL byte in text
    pg.InvalidTextRepresentationError,  # 22P02
    pg.UntranslatableCharacterError,  # 22P05, \u0000 in jsonb
    pg.NotNullViolationError,  # 23502
    pg.ForeignKeyViolationError,  # 23503
    pg.UniqueViolationError,  # 23505
    pg.CheckViolationError,  # 23514
    pg.ProgramLimitExceededError,  # 54000, index row too large
]
FATAL = [
    pg.PostgresSyntaxError,  # 42601
    pg.InsufficientPrivilegeError,  # 42501
    pg.UndefinedTableError,  # 42P01
    pg.UndefinedColumnError,  # 42703
    pg.InvalidPasswordError,  # 28P01
    pg.InvalidCatalogNameError,  # 3D000
    pg.ActiveSQLTransactionError,  # 25001
    pg.InternalServerError,  # XX000
    pg.DatabaseDroppedError,  # 57P04: no retry brings the database back
]


def _through_sqlalchemy(error: Exception) -> sa_exc.DBAPIError:
    """`error` as a worker sees it: the adapter's error raised from it, then SQLAlchemy's."""
    adapter = dbapi.InterfaceError if isinstance(error, asyncpg.InterfaceError) else dbapi.Error
    try:
        try:
            raise error
        except Exception as raised:
            raise adapter(str(raised), raised) from raised
    except dbapi.Error as adapted:
        statement = "INSERT INTO t VALUES ($1)"
        wrapped = sa_exc.DBAPIError.instance(statement, ("x",), adapted, dbapi.Error)
    assert isinstance(wrapped, sa_exc.DBAPIError)
    return wrapped


@pytest.mark.parametrize("cls", TRANSIENT, ids=lambda c: f"{c.sqlstate}-{c.__name__}")
def test_transient_sqlstates(cls: type[asyncpg.PostgresError]) -> None:
    error = cls("boom")
    assert classify_db_error(error) == "transient"
    assert classify_db_error(_through_sqlalchemy(error)) == "transient"
    assert default_on_db_error(_through_sqlalchemy(error)) == "retry"


@pytest.mark.parametrize("cls", DATA, ids=lambda c: f"{c.sqlstate}-{c.__name__}")
def test_data_sqlstates(cls: type[asyncpg.PostgresError]) -> None:
    error = cls("refused")
    wrapped = _through_sqlalchemy(error)
    assert classify_db_error(error) == "data"
    assert classify_db_error(wrapped) == "data"
    assert default_on_db_error(wrapped) == "dead_letter"
    assert sqlstate_of(wrapped) == cls.sqlstate


@pytest.mark.parametrize("cls", FATAL, ids=lambda c: f"{c.sqlstate}-{c.__name__}")
def test_fatal_sqlstates(cls: type[asyncpg.PostgresError]) -> None:
    error = cls("broken")
    assert classify_db_error(error) == "fatal"
    assert classify_db_error(_through_sqlalchemy(error)) == "fatal"
    assert default_on_db_error(_through_sqlalchemy(error)) == "raise"


def test_sqlstate_is_read_from_pgcode_too() -> None:
    class PsycopgLike(Exception):
        pgcode = "23505"

    assert classify_db_error(PsycopgLike()) == "data"
    assert classify_db_error(type("Other", (Exception,), {"pgcode": "42P01"})()) == "fatal"


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "reset by peer"),
        TimeoutError("connect timed out"),
        OSError("network unreachable"),
        InfraError("PostgreSQL is not reachable"),
        asyncpg.InterfaceError("connection is closed"),
        sa_exc.TimeoutError("QueuePool limit reached, connection timed out"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_connection_level_errors_are_transient(error: Exception) -> None:
    assert classify_db_error(error) == "transient"


def test_closed_connection_through_sqlalchemy_is_transient() -> None:
    assert classify_db_error(_through_sqlalchemy(asyncpg.InterfaceError("closed"))) == "transient"


def test_a_parameter_the_driver_cannot_encode_is_data_not_a_dead_connection() -> None:
    # asyncpg's client-side DataError is an InterfaceError too; SQLAlchemy wraps it as an
    # InterfaceError, which alone would read as a lost connection.
    client_side = asyncpg.exceptions._base.DataError("invalid input for query argument $1")
    assert classify_db_error(client_side) == "data"
    assert classify_db_error(_through_sqlalchemy(client_side)) == "data"


def test_invalidated_connection_is_transient_whatever_the_message() -> None:
    wrapped = _through_sqlalchemy(pg.PostgresSyntaxError("nonsense"))
    wrapped.connection_invalidated = True
    assert classify_db_error(wrapped) == "transient"


def test_the_outermost_definite_error_decides() -> None:
    # A data error, then the connection drops while rolling back: retry (the retry meets the
    # data error again on a healthy connection and dead-letters it then).
    try:
        try:
            raise pg.UniqueViolationError("dup")
        except pg.UniqueViolationError:
            raise pg.ConnectionDoesNotExistError("connection was closed") from None
    except pg.ConnectionDoesNotExistError as lost:
        assert classify_db_error(lost) == "transient"


def test_errors_without_any_database_sign_are_fatal() -> None:
    assert classify_db_error(sa_exc.InvalidRequestError("bug")) == "fatal"
    assert classify_db_error(ValueError("bug")) == "fatal"


def test_description_names_sqlstate_and_class_without_parameters() -> None:
    wrapped = _through_sqlalchemy(pg.UntranslatableCharacterError("unsupported \x00 escape"))
    text = describe_db_error(wrapped)
    assert text.startswith("22P05 UntranslatableCharacterError: unsupported")
    assert "\x00" not in text and "INSERT" not in text and "'x'" not in text


# -- Backoff ---------------------------------------------------------------------------------


def test_backoff_ceiling_is_exponential_and_capped() -> None:
    backoff = Backoff(base_s=1.0, cap_s=5.0, jitter=False)
    assert [backoff.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.ceiling(10_000) == 5.0  # no overflow after a very long outage


def test_full_jitter_stays_within_zero_and_the_ceiling() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=random.Random(7).random)
    for attempt in range(12):
        ceiling = backoff.ceiling(attempt)
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Spread over the window, not bunched at one end.
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9


def test_seeded_jitter_is_reproducible_and_next_delay_counts_attempts() -> None:
    first = Backoff(base_s=1.0, cap_s=8.0, rng=random.Random(42).random)
    second = Backoff(base_s=1.0, cap_s=8.0, rng=random.Random(42).random)
    runs = [[b.next_delay() for _ in range(6)] for b in (first, second)]
    assert runs[0] == runs[1]
    assert first.attempts == 6
    first.reset()
    assert first.attempts == 0 and first.next_delay() <= 1.0


def test_backoff_rejects_contradictions() -> None:
    with pytest.raises(ValueError):
        Backoff(base_s=5.0, cap_s=1.0)
    with pytest.raises(ValueError):
        Backoff(base_s=1.0, cap_s=5.0, factor=0.5)


# -- wait_or_stop and retry ---------------------------------------------------------------------


async def test_wait_or_stop_returns_early_when_stopped() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    assert await wait_or_stop(stop, 30.0) is True
    assert time.monotonic() - started < 5.0


async def test_wait_or_stop_times_out_when_not_stopped() -> None:
    stop = asyncio.Event()
    assert await wait_or_stop(stop, 0.01) is False
    assert await wait_or_stop(stop, 0) is False
    stop.set()
    assert await wait_or_stop(stop, 0) is True


async def test_retry_backs_off_until_the_step_succeeds() -> None:
    calls = 0
    told: list[tuple[str, int]] = []

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionResetError("reset")
        return "done"

    result = await retry(
        flaky,
        retry_if=lambda e: classify_db_error(e) == "transient",
        backoff=Backoff(base_s=0.001, cap_s=0.002, rng=random.Random(1).random),
        before_sleep=lambda e, s, n: told.append((type(e).__name__, n)),
    )
    assert result == "done" and calls == 3
    assert told == [("ConnectionResetError", 1), ("ConnectionResetError", 2)]


async def test_retry_raises_what_it_must_not_retry_at_once() -> None:
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise pg.UndefinedTableError('relation "signals" does not exist')

    with pytest.raises(pg.UndefinedTableError):
        await retry(
            refused,
            retry_if=lambda e: classify_db_error(e) == "transient",
            backoff=Backoff(base_s=0.001, cap_s=0.001),
        )
    assert calls == 1


async def test_retry_is_bounded_by_attempts() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise OSError("down")

    with pytest.raises(OSError):
        await retry(down, retry_if=lambda e: True, backoff=Backoff(base_s=0, cap_s=0), attempts=3)
    assert calls == 3


async def test_retry_stops_waiting_when_stop_is_set() -> None:
    stop = asyncio.Event()
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        stop.set()
        raise OSError("down")

    started = time.monotonic()
    with pytest.raises(StopRequested):
        await retry(down, retry_if=lambda e: True, backoff=Backoff(base_s=60, cap_s=60), stop=stop)
    assert calls == 1 and time.monotonic() - started < 5.0


async def test_retry_waits_at_least_what_the_error_asks_for() -> None:
    class Limited(Exception):
        retry_after_s = 0.05

    calls = 0

    async def limited() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Limited()
        return calls

    waits: list[float] = []
    await retry(
        limited,
        retry_if=lambda e: True,
        backoff=Backoff(base_s=0, cap_s=0),
        retry_after=lambda e: getattr(e, "retry_after_s", None),
        before_sleep=lambda e, s, n: waits.append(s),
    )
    assert waits == [0.05]


# -- Retry-After ----------------------------------------------------------------------------


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Mon, 05 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Mon, 05 Jan 2026 11:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("999999") == 3600.0
    assert parse_retry_after("999999", max_s=60) == 60.0
    for unusable in (None, "", "soon", "nan"):
        assert parse_retry_after(unusable) is None


async def test_retry_awaits_a_step_that_is_a_plain_callable_returning_a_coroutine() -> None:
    """`retry(lambda: coro(...))` runs the coroutine on every try (tenacity alone would
    take the unawaited coroutine for a result)."""
    from shared.resilience import Backoff, retry

    tries: list[int] = []

    async def drop(name: str) -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ValueError("busy")
        return name

    done = await retry(
        lambda: drop("db"),
        retry_if=lambda exc: isinstance(exc, ValueError),
        backoff=Backoff(base_s=0.0, cap_s=0.0),
        attempts=5,
    )
    assert done == "db" and len(tries) == 3
