"""Dead letters: records that can never be processed, kept with their reason on a topic."""

from __future__ import annotations

import base64
import logging

from shared import serde
from shared.kafka import REQUEST_ID_HEADER, EventProducer
from shared.logging import request_id_var
from shared.schemas import DeadLetter

log = logging.getLogger(__name__)

# Kafka's default message limit is 1 MiB; base64 plus the replacement-decoded text of a
# non-UTF-8 original take about 2.4 times its size, so this keeps letters well under it.
MAX_ORIGINAL_BYTES = 256 * 1024


class DeadLetterWriter:
    """Writes records that can never be processed to the dead-letter topic."""

    def __init__(self, producer: EventProducer, topic: str, *, stage: str) -> None:
        self._producer = producer
        self._topic = topic
        self._stage = stage

    async def send(self, original: bytes, reason: str, *, source: str) -> None:
        """Publish `original` with `reason`; the bytes are kept exactly (base64 if not UTF-8).

        The request id of the current context (`request_id_var`: the push being served, or
        the record being processed) goes with it as the `request_id` header.

        Originals larger than `MAX_ORIGINAL_BYTES` are cut (the reason says so): a letter
        must fit in one Kafka message, or one oversized record would fail its whole batch.
        """
        if len(original) > MAX_ORIGINAL_BYTES:
            reason = f"(original of {len(original)} bytes cut to {MAX_ORIGINAL_BYTES}) {reason}"
            original = original[:MAX_ORIGINAL_BYTES]
        try:
            text = original.decode("utf-8")
            b64 = None
        except UnicodeDecodeError:
            text = original.decode("utf-8", errors="replace")
            b64 = base64.b64encode(original).decode("ascii")
        letter = DeadLetter(
            reason=reason[:2000], stage=self._stage, source=source, original=text, original_b64=b64
        )
        headers = [("reason", reason[:200].encode()), ("stage", self._stage.encode())]
        request_id = request_id_var.get()
        if request_id:
            headers.append((REQUEST_ID_HEADER, request_id.encode()))
        await self._producer.send(self._topic, serde.dumps(letter), headers=headers)
        log.warning("dead-lettered a record from %s: %s", source, reason[:200])
