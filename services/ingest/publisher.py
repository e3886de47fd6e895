"""Publishes normalised mentions to `mentions.raw` and refused records to the DLQ."""

from __future__ import annotations

import time
from collections.abc import Sequence

from services.ingest.metrics import IngestMetrics
from shared.dead_letters import DeadLetterWriter
from shared.kafka import REQUEST_ID_HEADER, EventProducer, Header
from shared.logging import request_id_var
from shared.schemas import Mention


def correlation_headers() -> tuple[Header, ...]:
    """The request id of the HTTP request being served (a push), as a Kafka header."""
    request_id = request_id_var.get()
    return ((REQUEST_ID_HEADER, request_id.encode()),) if request_id else ()


class MentionPublisher:
    """Sends mentions keyed by brand; counts what was produced and what was refused."""

    def __init__(
        self,
        producer: EventProducer,
        *,
        topic: str,
        dead_letters: DeadLetterWriter,
        metrics: IngestMetrics,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._dead_letters = dead_letters
        self._metrics = metrics

    def count_received(self, source: str, count: int) -> None:
        """Count mentions received from `source` before validation."""
        self._metrics.received.labels(source).inc(count)

    async def publish(self, mentions: Sequence[Mention], *, source: str) -> int:
        """Produce `mentions` and wait for the broker's acknowledgement of all of them."""
        if not mentions:
            return 0
        started = time.perf_counter()
        sent = await self._producer.send_many(
            self._topic,
            ((m.key, m.model_dump_json().encode()) for m in mentions),
            headers=correlation_headers(),
        )
        self._metrics.produce_seconds.observe(time.perf_counter() - started)
        self._metrics.produced.labels(source).inc(sent)
        return sent

    async def publish_encoded(self, messages: Sequence[tuple[bytes, bytes]], *, source: str) -> int:
        """Produce already encoded `(brand key, Mention JSON)` pairs (replay's fast path)."""
        if not messages:
            return 0
        started = time.perf_counter()
        sent = await self._producer.send_many(self._topic, messages, headers=correlation_headers())
        self._metrics.produce_seconds.observe(time.perf_counter() - started)
        self._metrics.produced.labels(source).inc(sent)
        return sent

    async def reject(self, original: bytes, reason: str, *, source: str, code: str) -> None:
        """Dead-letter one refused record with its reason; `code` is the metric label."""
        self._metrics.rejected.labels(source, code).inc()
        await self._dead_letters.send(original, reason, source=source)
