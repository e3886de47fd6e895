"""What an abandoned Kafka send delivered is not sent again by the retry."""

from __future__ import annotations

import asyncio

import pytest

from shared.delivery import QueuedBatch, Unsettled
from shared.errors import BrokerUnavailable

TOPIC = "mentions.raw"


def _batch(*values: bytes) -> QueuedBatch:
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    return QueuedBatch(future, [(b"acme", v) for v in values])


async def test_a_retry_waits_while_the_client_holds_a_batch_then_skips_what_it_delivered() -> None:
    unsettled = Unsettled()
    held = _batch(b"m1", b"m2")
    unsettled.keep(TOPIC, [held])
    with pytest.raises(BrokerUnavailable, match="still holds 1 batches"):
        await unsettled.settle(TOPIC, wait_s=0.01)
    held.future.set_result(None)  # the broker came back and acknowledged it
    assert await unsettled.settle(TOPIC, wait_s=0.01)
    assert unsettled.take(TOPIC, b"acme", b"m1")
    assert not unsettled.take(TOPIC, b"acme", b"m1"), "a message is skipped once only"
    assert not unsettled.take(TOPIC, b"acme", b"m3")
    assert not unsettled.take(TOPIC, b"other", b"m2"), "the key is part of the message"
    assert unsettled.take(TOPIC, b"acme", b"m2")
    assert not await unsettled.settle(TOPIC, wait_s=0.01), "nothing left to skip"


async def test_failed_batches_are_sent_again_and_other_topics_are_not_blocked() -> None:
    unsettled = Unsettled()
    failed, held = _batch(b"lost"), _batch(b"later")
    failed.future.set_exception(BrokerUnavailable("refused"))
    unsettled.keep(TOPIC, [failed, held])
    assert not await unsettled.settle("mentions.scored", wait_s=0.01)
    held.future.set_exception(BrokerUnavailable("refused as well"))
    assert not await unsettled.settle(TOPIC, wait_s=0.01)
    assert not unsettled.take(TOPIC, b"acme", b"lost")
    assert not unsettled.take(TOPIC, b"acme", b"later")


async def test_two_callers_sharing_a_topic_each_skip_their_own_messages() -> None:
    unsettled = Unsettled()
    reddit, mastodon = _batch(b"post"), _batch(b"toot")
    unsettled.keep(TOPIC, [reddit])
    unsettled.keep(TOPIC, [mastodon])
    reddit.future.set_result(None)
    mastodon.future.set_result(None)
    first, second = await asyncio.gather(
        unsettled.settle(TOPIC, wait_s=0.01), unsettled.settle(TOPIC, wait_s=0.01)
    )
    assert first and second
    assert unsettled.take(TOPIC, b"acme", b"post")
    assert await unsettled.settle(TOPIC, wait_s=0.01), "the other caller's message is still known"
    assert unsettled.take(TOPIC, b"acme", b"toot")


async def test_delivered_messages_are_forgotten_after_a_while() -> None:
    unsettled = Unsettled(remember_s=0.0)
    batch = _batch(b"m1")
    batch.future.set_result(None)
    unsettled.keep(TOPIC, [batch])
    assert not await unsettled.settle(TOPIC, wait_s=0.01)
    assert not unsettled.take(TOPIC, b"acme", b"m1")
