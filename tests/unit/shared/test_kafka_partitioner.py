"""The cached key partitioner agrees with the Java client's murmur2 placement."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from shared.kafka import KeyPartitioner


def test_same_partition_as_the_default_partitioner_for_every_key() -> None:
    reference = DefaultPartitioner()
    cached = KeyPartitioner(max_keys=16)  # small: the cache is cleared several times
    keys = [f"brand-{i}".encode() for i in range(200)] + ["品牌".encode(), b""]
    for partitions in ([0], [0, 1, 2], list(range(6)), list(range(12))):
        for _ in range(2):  # second pass hits the cache
            for key in keys:
                assert cached(key, partitions) == reference(key, partitions, partitions)


def test_records_without_a_key_spread_over_the_partitions() -> None:
    partitioner = KeyPartitioner()
    seen = {partitioner(None, [0, 1, 2]) for _ in range(300)}
    assert seen == {0, 1, 2}
