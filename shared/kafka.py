"""Kafka adapter: the only module that imports aiokafka.

- `EventProducer`: idempotent, batching producer; failures surface as `BrokerUnavailable`.
- `EventConsumer`: consumer-group member with manual commits: callers commit after their
  side effects succeeded (at-least-once; unique keys downstream make replays no-ops); a
  `shared.partitions.PartitionListener` hears of the partitions each rebalance moves.
- dead letters are written by `shared.dead_letters.DeadLetterWriter` through a producer.
- `ensure_topics` / `wait_for_broker`: admin helpers for start-up and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    RebalanceInProgressError,
    TopicAlreadyExistsError,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2

from shared.delivery import QueuedBatch, Unsettled
from shared.errors import BrokerUnavailable
from shared.partitions import PartitionListener, heartbeat_ms
from shared.resilience import Backoff

log = logging.getLogger(__name__)

Header = tuple[str, bytes]
# `(key, value)`, or `(key, value, headers of this message only)`.
Message = tuple[bytes | None, bytes] | tuple[bytes | None, bytes, Sequence[Header]]
# The header carrying the id of the HTTP request that pushed a record (`X-Request-ID` of the
# push); the sentiment worker forwards it onto `mentions.scored`, dead letters carry it.
REQUEST_ID_HEADER = "request_id"


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed Kafka record, independent of the client library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: tuple[Header, ...] = ()

    def header(self, name: str) -> str | None:
        """The (last) value of header `name` as text, or None."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found.decode("utf-8", errors="replace") if found is not None else None


class KeyPartitioner:
    """Partitions records like the Java client (murmur2 of the key), remembering key hashes.

    Keys are brands, so a handful of distinct keys recur: the pure-Python murmur2 runs once
    per key instead of once per record. Records without a key go to a random partition.
    """

    def __init__(self, max_keys: int = 4096) -> None:
        self._hash = functools.lru_cache(maxsize=max_keys)(_key_hash)
        self._random = DefaultPartitioner()

    def __call__(self, key: bytes | None, partitions: Sequence[int]) -> int:
        """The partition of `key` among `partitions` (sorted partition ids)."""
        if key is None:
            return int(self._random(None, partitions, partitions))
        return partitions[self._hash(key) % len(partitions)]


def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def key_partition(key: bytes, partitions: int) -> int:
    """The partition producers put `key` in, among `partitions` (murmur2, like Java)."""
    return _key_hash(key) % partitions


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, target: PartitionListener) -> None:
        self._target = target

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._target.revoked(sorted((tp.topic, tp.partition) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._target.assigned(sorted((tp.topic, tp.partition) for tp in assigned))


class EventProducer:
    """Idempotent producer with batching; call `start()` before sending."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "crisiswatch",
        linger_ms: int = 5,
        send_timeout_s: float = 10.0,
        max_batch_size: int = 256 * 1024,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._linger_ms = linger_ms
        self._send_timeout_s = send_timeout_s
        self._max_batch_size = max_batch_size
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = KeyPartitioner()
        self._unsettled = Unsettled()

    async def start(self) -> None:
        """Connect to the cluster; raise `BrokerUnavailable` when it cannot be reached."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=self._linger_ms,
            max_batch_size=self._max_batch_size,
            request_timeout_ms=int(self._send_timeout_s * 1000),
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise BrokerUnavailable(f"cannot connect to Kafka at {self._bootstrap}: {exc}") from exc
        self._producer = producer

    async def stop(self) -> None:
        """Flush pending messages and disconnect."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def _require(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BrokerUnavailable("producer is not started")
        return self._producer

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
    ) -> None:
        """Produce one message and wait until the broker acknowledged it."""
        await self.send_many(topic, [(key, value)], headers=headers)

    async def _settle(self, topic: str, queued: Sequence[QueuedBatch]) -> BaseException | None:
        """Wait until every queued batch succeeded or failed; return the first failure.

        aiokafka fails an undeliverable batch after its request timeout, but during a broker
        outage it may keep a batch and deliver it after the restart: after the outer bound
        such batches are remembered (not cancelled) so that the caller's retry skips them.
        """
        if not queued:
            return None
        futures = [batch.future for batch in queued]
        _, pending = await asyncio.wait(futures, timeout=self._send_timeout_s * 3 + 5)
        if pending:
            self._unsettled.keep(topic, queued)
            return TimeoutError(f"Kafka did not settle {len(pending)} queued batches in time")
        for fut in futures:
            exc = fut.exception()
            if exc is not None:
                self._unsettled.keep(topic, queued)
                return exc
        return None

    async def send_many(
        self,
        topic: str,
        messages: Iterable[Message],
        *,
        headers: Sequence[Header] = (),
    ) -> int:
        """Produce `(key, value)` pairs and wait for every acknowledgement; `headers` go on
        every message, a third element of a message adds headers to that one only.

        Records are partitioned like the Java client (murmur2 of the key) and appended to
        per-partition batches directly, which costs far less than one `send()` per record.
        A retry after `BrokerUnavailable` does not send again what the failed attempt did
        deliver (even when the broker acknowledged it only after the attempt gave up).
        """
        producer = self._require()
        queued: list[QueuedBatch] = []
        header_list = list(headers)
        count = 0
        try:
            async with asyncio.timeout(self._send_timeout_s):
                skip = await self._unsettled.settle(topic, wait_s=self._send_timeout_s / 2)
                partitions = sorted(await producer.partitions_for(topic))
                if not partitions:
                    raise BrokerUnavailable(f"topic {topic} has no partitions")
                builders: dict[int, Any] = {}
                held: dict[int, list[tuple[bytes | None, bytes]]] = {}

                async def flush(partition: int) -> None:
                    future = await producer.send_batch(
                        builders[partition], topic, partition=partition
                    )
                    queued.append(QueuedBatch(future, held[partition]))

                for message in messages:
                    key, value = message[0], message[1]
                    count += 1
                    if skip and self._unsettled.take(topic, key, value):
                        continue
                    own = header_list + list(message[2]) if len(message) == 3 else header_list
                    partition = self._partitioner(key, partitions)
                    builder = builders.get(partition)
                    if builder is None:
                        builder = builders[partition] = producer.create_batch()
                        held[partition] = []
                    if builder.append(key=key, value=value, timestamp=None, headers=own) is None:
                        await flush(partition)
                        builder = builders[partition] = producer.create_batch()
                        held[partition] = []
                        if (
                            builder.append(key=key, value=value, timestamp=None, headers=own)
                            is None
                        ):
                            raise BrokerUnavailable("a record is larger than max_batch_size")
                    held[partition].append((key, value))
                for partition, builder in builders.items():
                    if builder.record_count():
                        await flush(partition)
        except (KafkaError, TimeoutError) as exc:
            await self._settle(topic, queued)
            raise BrokerUnavailable(f"Kafka did not accept messages for {topic}: {exc!r}") from exc
        # Wait for the queued batches to succeed or fail, never abandon them silently: a batch
        # given up on could still be delivered later (see `_settle`).
        failure = await self._settle(topic, queued)
        if failure is not None:
            raise BrokerUnavailable(
                f"Kafka did not accept messages for {topic}: {failure!r}"
            ) from failure
        return count


class EventConsumer:
    """Consumer-group member that never auto-commits: call `commit()` after side effects."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Sequence[str],
        *,
        group_id: str,
        client_id: str = "crisiswatch",
        auto_offset_reset: str = "earliest",
        max_poll_records: int = 500,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int | None = None,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = list(topics)
        self.group_id = group_id
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            max_poll_records=max_poll_records,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms or heartbeat_ms(session_timeout_ms),
            isolation_level="read_committed",
        )
        self._started = False

    async def start(self, listener: PartitionListener | None = None) -> None:
        """Join the group and subscribe (`listener` hears of rebalances); raise
        `BrokerUnavailable` when Kafka is unreachable."""
        try:
            await self._consumer.start()
        except KafkaError as exc:
            await self._consumer.stop()
            raise BrokerUnavailable(f"cannot connect to Kafka at {self._bootstrap}: {exc}") from exc
        rebalance = _Rebalance(listener) if listener is not None else None
        self._consumer.subscribe(self._topics, listener=rebalance)
        self._started = True

    async def stop(self) -> None:
        """Leave the group (uncommitted records will be delivered again) and disconnect."""
        if self._started:
            await self._consumer.stop()
            self._started = False

    async def poll(self, *, timeout_ms: int = 500, max_records: int | None = None) -> list[Record]:
        """Fetch the next records across assigned partitions (possibly none)."""
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        records: list[Record] = []
        for batch in batches.values():
            for msg in batch:
                records.append(
                    Record(
                        topic=msg.topic,
                        partition=msg.partition,
                        offset=msg.offset,
                        key=msg.key,
                        value=msg.value if msg.value is not None else b"",
                        timestamp_ms=msg.timestamp,
                        headers=tuple(msg.headers or ()),
                    )
                )
        return records

    async def commit(self, records: Sequence[Record]) -> None:
        """Commit the offsets just past `records` (the side effects for them are done)."""
        last: dict[tuple[str, int], int] = {}
        for rec in records:
            where = (rec.topic, rec.partition)
            if rec.offset >= last.get(where, -1):
                last[where] = rec.offset
        offsets = {TopicPartition(*where): offset + 1 for where, offset in last.items()}
        # A rebalance may have revoked partitions since the poll: their records go to the new
        # owner, which replays them (idempotent store), so skip them instead of crashing.
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as exc:
            log.warning("offset commit skipped, the group rebalanced (%s); records replay", exc)

    def assignment(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs this member holds now."""
        return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment())

    def partition_count(self, topic: str) -> int | None:
        """Partitions of `topic` in the consumer's metadata (None before it has any)."""
        found = self._consumer.partitions_for_topic(topic)
        return len(found) if found else None

    def pause(self) -> None:
        """Stop fetching (while a downstream dependency is unavailable)."""
        self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        """Fetch again after `pause()`."""
        self._consumer.resume(*self._consumer.assignment())

    async def seek_to_committed(self) -> None:
        """Rewind every assigned partition to its committed offset (retry after a failure)."""
        for tp in self._consumer.assignment():
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)

    async def lag(self) -> dict[tuple[str, int], int]:
        """Records behind the end of each assigned partition, from the consumer's position."""
        assignment = list(self._consumer.assignment())
        if not assignment:
            return {}
        ends = await self._consumer.end_offsets(assignment)
        result = {}
        for tp in assignment:
            position = await self._consumer.position(tp)
            result[(tp.topic, tp.partition)] = max(0, ends[tp] - position)
        return result


async def ensure_topics(bootstrap_servers: str, partitions: dict[str, int]) -> list[str]:
    """Create missing topics with the given partition counts; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="crisiswatch-admin")
    try:
        await admin.start()
    except KafkaError as exc:
        await admin.close()
        raise BrokerUnavailable(f"cannot connect to Kafka at {bootstrap_servers}: {exc}") from exc
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name=name, num_partitions=count, replication_factor=1)
            for name, count in partitions.items()
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # created concurrently
                await admin.create_topics(wanted)
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def delete_topics(bootstrap_servers: str, *, prefix: str, batch: int = 200) -> int:
    """Delete every topic whose name starts with `prefix`; return how many were deleted.

    Tests and benchmarks create topics per run: deleting them afterwards keeps a long-lived
    broker from collecting thousands of topics, which slow its start-up.
    """
    if not prefix:
        raise ValueError("a non-empty prefix is required")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="crisiswatch-admin")
    try:
        await admin.start()
        names = sorted(n for n in await admin.list_topics() if n.startswith(prefix))
        for start in range(0, len(names), batch):
            await admin.delete_topics(names[start : start + batch], timeout_ms=60_000)
        return len(names)
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()


async def list_topics(bootstrap_servers: str) -> dict[str, int]:
    """Topic name to partition count, from a metadata request."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="crisiswatch-admin")
    try:
        await admin.start()
        names = await admin.list_topics()
        described = await admin.describe_topics(names) if names else []
        return {d["topic"]: len(d["partitions"]) for d in described}
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()


async def wait_for_broker(bootstrap_servers: str, *, timeout_s: float = 60.0) -> None:
    """Poll with metadata requests until the broker answers, or raise `BrokerUnavailable`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: Exception | None = None
    # Refused connections are expected while the broker starts: keep aiokafka quiet meanwhile.
    client_log = logging.getLogger("aiokafka")
    previous = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        await _poll_broker(bootstrap_servers, deadline)
        return
    except BrokerUnavailable as exc:
        last = exc
    finally:
        client_log.setLevel(previous)
    raise BrokerUnavailable(f"Kafka at {bootstrap_servers} not ready after {timeout_s}s: {last}")


async def _poll_broker(bootstrap_servers: str, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    last: Exception | None = None
    backoff = Backoff(base_s=0.25, cap_s=2.0)
    while loop.time() < deadline:
        try:
            await list_topics(bootstrap_servers)
            return
        except BrokerUnavailable as exc:
            last = exc
            await asyncio.sleep(min(backoff.next_delay(), max(deadline - loop.time(), 0.0)))
    raise BrokerUnavailable(str(last))
