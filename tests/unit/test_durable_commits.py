"""The scorer's guard on faust's commits (stream/kafka/durable_commits.py), run against faust's own
``Consumer._new_offset``: the offset faust would commit, with and without the guard."""

from __future__ import annotations

from collections import defaultdict
from types import MethodType, SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from badbuzz.stream.kafka.durable_commits import DurableFrontier

RAW = TP("tweets.raw", 0)
OTHER = TP("tweets.raw", 1)


def faust_consumer(committed: int | None) -> Any:
    """The state faust's ``_new_offset`` reads, with faust's method bound to it."""
    consumer = SimpleNamespace(_acked=defaultdict(list), _acked_index=defaultdict(set), _gap=defaultdict(IntervalTree),
                               _committed_offset=defaultdict(lambda: None))
    consumer._committed_offset[RAW] = committed
    consumer._new_offset = MethodType(Consumer._new_offset, consumer)
    return consumer


def commit(consumer: Any, tp: TP = RAW) -> int | None:
    """What faust's commit does with the offset it picks: commit it and remember it."""
    offset = consumer._new_offset(tp)
    if offset is not None:
        consumer._committed_offset[tp] = offset
    return offset


def ack(consumer: Any, tp: TP, offsets: range) -> None:
    for o in offsets:
        consumer._acked[tp].append(o)
        consumer._acked_index[tp].add(o)


def test_messages_faust_skips_and_acknowledges_on_shutdown_are_not_committed() -> None:
    # 100-109 stored and published; 110-120 were queued when the worker stopped: faust skipped and acked them
    bare, guarded = faust_consumer(100), faust_consumer(100)
    frontier = DurableFrontier()
    frontier.install(guarded)
    frontier.delivered((RAW, o) for o in range(100, 110))
    for consumer in (bare, guarded):
        ack(consumer, RAW, range(100, 121))
    assert commit(bare) == 121  # faust alone: 11 tweets never stored would be committed
    assert commit(guarded) == 110
    assert sorted(guarded._acked[RAW]) == list(range(110, 121)) and frontier.held == 1  # kept, not dropped
    frontier.delivered((RAW, o) for o in range(110, 121))  # once they are durable, they count again
    assert commit(guarded) == 121


def test_a_batch_cancelled_before_it_was_durable_stops_the_commit_short_of_it() -> None:
    consumer, frontier = faust_consumer(None), DurableFrontier()
    frontier.install(consumer)
    frontier.install(consumer)  # idempotent: a second assignment does not wrap twice
    frontier.delivered((RAW, o) for o in range(0, 64))
    ack(consumer, RAW, range(0, 128))  # take_events acknowledges the held batch 64-127 on its way out
    assert commit(consumer) == 64


def test_a_partition_with_nothing_durable_commits_nothing_and_others_are_untouched() -> None:
    consumer, frontier = faust_consumer(None), DurableFrontier()
    frontier.install(consumer)
    frontier.delivered((OTHER, o) for o in range(5, 10))
    ack(consumer, RAW, range(0, 10))
    ack(consumer, OTHER, range(5, 10))
    assert commit(consumer) is None
    assert commit(consumer, OTHER) == 10
    frontier.forget([OTHER])  # revoked: its next owner decides; nothing here vouches for it any more
    ack(consumer, OTHER, range(10, 12))
    assert commit(consumer, OTHER) is None
