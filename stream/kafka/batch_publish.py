"""``tweets.scored`` sent a partition's records at a time, through aiokafka's record batches.

Why: kafka-python's ``send`` does per record what only a batch needs: it hashes the key in Python, appends to
its accumulator under a lock, makes a future, and its I/O thread later resolves that future with a metadata
object. In the scorer (null model, 2 cores) that was the largest cost left besides the model: ~70 µs a tweet
in the publish stage and most of the ~90 µs of the producer's thread. aiokafka, the Kafka client faust-streaming
runs on, builds record batches in C (``create_batch`` / ``send_batch``): one future per partition and batch.
Measured alone on the same broker: 9-11 µs of CPU a record against kafka-python's 26-35
(docs/benchmarks-pipeline.md).

The producer runs on its own event loop in a daemon thread, so both scorer engines (faust's agent and the
kafka-python loop) call it the same blocking way from their delivery threads. A failed or timed-out batch
raises :class:`SinkError` and replaces the producer, as :class:`RenewableProducer` does for kafka-python: the
pipeline holds the batch and retries it whole (at least once on ``tweets.scored``, exactly once in the store).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from badbuzz.stream.errors import SinkError
from badbuzz.stream.kafka.security import KafkaSecurity

log = logging.getLogger(__name__)

Record = tuple[bytes | None, bytes]  # key, value


class BatchPublisher:
    """Blocking ``send_all(topic, records)`` over an idempotent aiokafka producer (acks=all)."""

    def __init__(self, bootstrap: str, max_request_bytes: int, security: KafkaSecurity | None = None, *,
                 timeout_s: float = 40.0, linger_ms: int = 0) -> None:
        self.bootstrap = bootstrap
        self.max_request_bytes = max_request_bytes
        self.security = security or KafkaSecurity()  # PLAINTEXT
        self.timeout_s = timeout_s
        self.linger_ms = linger_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._producer: Any = None
        self._lock = threading.Lock()

    def send_all(self, topic: str, records: Sequence[Record]) -> None:
        """Return once every record is acknowledged by the broker; raise :class:`SinkError` otherwise."""
        if not records:
            return
        future = asyncio.run_coroutine_threadsafe(self._send_all(topic, records), self._event_loop())
        try:
            future.result(timeout=self.timeout_s)
        except FutureTimeout:
            future.cancel()
            self._renew()
            raise SinkError(f"{topic}: the broker did not acknowledge within {self.timeout_s:.0f}s") from None
        except SinkError:
            self._renew()
            raise
        except Exception as exc:  # aiokafka's errors, a lost connection: the batch is retried on a new producer
            self._renew()
            raise SinkError(f"could not send to {topic}: {exc!r}") from exc

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop_producer(), loop).result(timeout=10)
        except Exception as exc:  # closing after an outage may fail too; the process is going anyway
            log.warning("closing the scored records' producer: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = None

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="badbuzz-publish", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _renew(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._stop_producer(), self._loop)

    async def _stop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=5)
            except Exception as exc:  # a wedged client is dropped either way
                log.warning("stopping the old scored records' producer: %s", exc)

    async def _started(self) -> Any:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(
                **self.security.kafka_python(),  # the same keyword names: security_protocol, ssl_context, sasl_*
                bootstrap_servers=self.bootstrap,
                client_id="badbuzz-scored",
                acks="all",
                enable_idempotence=True,  # a retried batch is not written twice
                linger_ms=self.linger_ms,
                max_batch_size=min(self.max_request_bytes, 1024 * 1024),
                max_request_size=self.max_request_bytes,
                request_timeout_ms=int(min(self.timeout_s, 30) * 1000),
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _send_all(self, topic: str, records: Sequence[Record]) -> None:
        from aiokafka.partitioner import murmur2

        producer = await self._started()
        partitions = sorted(await producer.partitions_for(topic))
        if not partitions:
            raise SinkError(f"{topic} has no partitions")
        batches: dict[int, Any] = {}
        sent: list[asyncio.Future[Any]] = []
        for key, value in records:
            # Kafka's default partitioner, as kafka-python and the Java client apply it: a key always lands on
            # the same partition, whichever client sent it
            p = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)] if key is not None else \
                random.choice(partitions)
            batch = batches.get(p)
            if batch is None:
                batch = batches[p] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                sent.append(await producer.send_batch(batch, topic, partition=p))
                batch = batches[p] = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise SinkError(f"a record of {len(value)} bytes does not fit a batch to {topic}")
        for p, batch in batches.items():
            sent.append(await producer.send_batch(batch, topic, partition=p))
        await asyncio.gather(*sent)
