"""Kafka plumbing with kafka-python: topic administration, a producer, and the Kafka sinks.

The sinks' ``flush()`` waits for broker acknowledgement (acks=all), which is what lets the scorer commit
offsets only after its outputs are durable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
    TopicAlreadyExistsError,
)
from kafka.producer.future import FutureRecordMetadata

from badbuzz.stream.contracts import DeadLetter, ScoredTweet
from badbuzz.stream.errors import BadBuzzError, SinkError
from badbuzz.stream.kafka.batch_publish import BatchPublisher
from badbuzz.stream.kafka.security import KafkaSecurity
from badbuzz.stream.scoring.sinks import Sink

_UNREACHABLE = (KafkaConnectionError, KafkaTimeoutError)
PLAINTEXT = KafkaSecurity()
T = TypeVar("T")

log = logging.getLogger(__name__)


class KafkaUnavailable(BadBuzzError):
    """No broker answered at the configured bootstrap address."""


SASL_DROP = "the broker closed the connection during SASL authentication"
SASL_DROPS_REFUSED = 3  # so many in one connect, with no success between: the credentials, not the network


class _AuthWatch(logging.Handler):
    """Notices a SASL authentication failure that kafka-python only logs: the client then retries its bootstrap
    until it times out and reports "no broker", which would send an operator looking for a network problem.

    A refusal shows in one of two ways: kafka-python reads the broker's error (SaslAuthenticationFailed), or
    the broker's close wins the race against that read and the attempt ends as a lost connection inside the
    SASL exchange (about half the attempts here, and every one of 36 in a loaded CI run).
    :func:`_note_sasl_outcomes` reports both to the watches open at the time, whatever the log level; the log
    handler stays as the fallback for a kafka-python without that step. A broker restarting at that very step,
    three times in a row, is the rare false reading.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.refused = False
        self.drops = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "SaslAuthenticationFailed" in record.getMessage():
            self.refused = True

    def dropped(self) -> None:
        self.drops += 1
        self.refused = self.refused or self.drops >= SASL_DROPS_REFUSED

    @property
    def detail(self) -> str:
        return f"{SASL_DROP} {self.drops} times" if self.drops >= SASL_DROPS_REFUSED else ""

    def __enter__(self) -> _AuthWatch:
        _note_sasl_outcomes()
        with _WATCHES_LOCK:
            _WATCHES.add(self)
        logging.getLogger("kafka").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("kafka").removeHandler(self)
        with _WATCHES_LOCK:
            _WATCHES.discard(self)


_WATCHES: set[_AuthWatch] = set()
_WATCHES_LOCK = threading.Lock()


def _sasl_outcome(refused: bool) -> None:
    """Tell the open watches: the broker refused us, or closed the connection inside the SASL exchange."""
    with _WATCHES_LOCK:
        watches = list(_WATCHES)
    for watch in watches:
        if refused:
            watch.refused = True
        else:
            watch.dropped()


def _note_sasl_outcomes() -> None:
    """Report how kafka-python's SASL exchange ended when it failed (it logs only "Connection lost" for a drop).

    Wraps ``KafkaConnection._sasl_authenticate`` once per process; a kafka-python without it (another
    version) leaves :class:`_AuthWatch` its log handler.
    """
    from kafka.net.connection import KafkaConnection

    original = getattr(KafkaConnection, "_sasl_authenticate", None)
    if original is None or getattr(original, "_badbuzz_wrapped", False):
        return

    async def sasl_authenticate(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        except SaslAuthenticationFailedError:
            _sasl_outcome(refused=True)
            raise
        except KafkaConnectionError as exc:
            log.warning("%s (%s)", SASL_DROP, exc)
            _sasl_outcome(refused=False)
            raise

    sasl_authenticate._badbuzz_wrapped = True  # type: ignore[attr-defined]
    KafkaConnection._sasl_authenticate = sasl_authenticate


class KafkaAuthFailed(BadBuzzError):
    """The broker refused our credentials: a configuration error, reported at once (retrying cannot help)."""

    def __init__(self, security: KafkaSecurity, bootstrap: str, cause: Exception, detail: str = "") -> None:
        super().__init__(f"Kafka at {bootstrap} refused {security.protocol} {security.mechanism} authentication as "
                         f"{security.username!r}: check BADBUZZ_KAFKA_USERNAME / BADBUZZ_KAFKA_PASSWORD "
                         f"({detail or type(cause).__name__})")


@dataclass(frozen=True)
class TopicConfig:
    """How badbuzz creates its topics: replicas, ``min.insync.replicas`` and how long records are kept."""

    factor: int = 1
    min_insync: int | None = None  # None: the broker's default
    retention_ms: int | None = None  # None: the broker's default


def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int, max_message_bytes: int,
                  security: KafkaSecurity = PLAINTEXT, *, config: TopicConfig = TopicConfig()) -> None:
    """Create the topics that are missing (idempotent). One replica suits the single-node stack; a managed
    cluster needs its own figures (Confluent Cloud refuses a factor of 1; on MSK, whose brokers default to
    ``min.insync.replicas=2``, ``acks=all`` writes to a one-replica topic fail), hence the settings
    BADBUZZ_KAFKA_REPLICATION_FACTOR and BADBUZZ_KAFKA_MIN_INSYNC_REPLICAS."""
    configs = {"max.message.bytes": str(max_message_bytes)}
    if config.min_insync is not None:
        configs["min.insync.replicas"] = str(config.min_insync)
    if config.retention_ms is not None:
        configs["retention.ms"] = str(config.retention_ms)
    admin = connect(lambda: KafkaAdminClient(bootstrap_servers=bootstrap, client_id="badbuzz-admin",
                                             **security.kafka_python()), bootstrap, security)
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(n, num_partitions=partitions, replication_factor=config.factor, topic_configs=dict(configs))
            for n in names if n not in existing
        ]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def connect(make: Callable[[], T], bootstrap: str, security: KafkaSecurity, *,
            poll_s: float = 0.05) -> T:
    """``make()`` a kafka-python client, turning its failures into the two errors an operator can act on:
    the broker refused our credentials, or no broker answered.

    Why a thread: kafka-python logs a refused SASL login and goes on retrying its bootstrap until
    ``bootstrap_timeout_ms`` (30 s), which must stay long enough to wait out a broker that is restarting.
    With credentials configured, the client is built in a daemon thread while this one watches for a refusal, so
    a refusal is reported as soon as the broker gives it; the abandoned attempt ends at its own timeout and
    closes whatever it built.
    """
    if not security.sasl:
        return _mapped(make, bootstrap, security, _AuthWatch())
    watch, built = _AuthWatch(), Future[T]()

    def build() -> None:
        try:
            built.set_result(_mapped(make, bootstrap, security, watch))
        except BaseException as exc:  # handed to the waiting thread
            built.set_exception(exc)

    threading.Thread(target=build, name="kafka-connect", daemon=True).start()
    while not watch.refused:
        try:
            return built.result(timeout=poll_s)
        except TimeoutError:
            if built.done():  # the client's own TimeoutError, not the end of a wait
                raise
    built.add_done_callback(_close_if_built)  # abandoned: closed once built (at once if it already is)
    raise KafkaAuthFailed(security, bootstrap, SaslAuthenticationFailedError(), watch.detail) from None


def _mapped(make: Callable[[], T], bootstrap: str, security: KafkaSecurity, watch: _AuthWatch) -> T:
    with watch:
        try:
            return make()
        except SaslAuthenticationFailedError as exc:
            raise KafkaAuthFailed(security, bootstrap, exc) from None
        except _UNREACHABLE as exc:
            if watch.refused:
                raise KafkaAuthFailed(security, bootstrap, exc, watch.detail) from None
            raise KafkaUnavailable(f"no Kafka broker at {bootstrap} (start it: deploy/stack.sh start)") from None


def _close_if_built(built: Future[Any]) -> None:
    if built.exception() is not None:
        return
    try:
        built.result().close()
    except Exception:  # an abandoned client: nothing left to report to
        log.debug("closing an abandoned Kafka client failed", exc_info=True)


def make_producer(bootstrap: str, max_request_bytes: int, security: KafkaSecurity = PLAINTEXT) -> KafkaProducer:
    return connect(lambda: _producer(bootstrap, max_request_bytes, security), bootstrap, security)


def _producer(bootstrap: str, max_request_bytes: int, security: KafkaSecurity) -> KafkaProducer:
    return KafkaProducer(
        **security.kafka_python(),
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=10,
        batch_size=256 * 1024,
        max_request_size=max_request_bytes,
        enable_idempotence=True,  # a retried send is not written twice
        delivery_timeout_ms=30_000,  # a send fails (and the batch is retried) rather than hanging
        request_timeout_ms=10_000,
        client_id="badbuzz",
    )


class RenewableProducer:
    """A producer that can be replaced after a failure, shared by the scorer's output sinks.

    After a broker restart kafka-python's producer can stay wedged (its idempotent producer id lost, every
    send expiring); a failed batch therefore renews it before the retry, instead of hoping it heals.
    """

    def __init__(self, bootstrap: str, max_request_bytes: int, security: KafkaSecurity = PLAINTEXT) -> None:
        self.bootstrap = bootstrap
        self.max_request_bytes = max_request_bytes
        self.security = security
        self._producer: KafkaProducer | None = None

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = make_producer(self.bootstrap, self.max_request_bytes, self.security)
        return self._producer

    def renew(self) -> None:
        old, self._producer = self._producer, None
        if old is not None:
            try:
                old.close(timeout=1)
            except Exception as exc:  # closing a wedged client may fail too; it is dropped either way
                log.warning("closing the old producer: %s", exc)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)


class _AcknowledgedSink:
    """Keeps every send's future and checks each one on ``flush()``: kafka-python's own ``flush()`` returns
    even when records failed, so without this a batch could be committed with its outputs lost."""

    def __init__(self, producer: RenewableProducer, topic: str, timeout_s: float) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout_s = timeout_s
        self._pending: list[FutureRecordMetadata] = []

    def _send(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> None:
        try:
            self._pending.append(self.producer.producer.send(self.topic, key=key, value=value, headers=headers))
        except (KafkaError, KafkaUnavailable) as exc:  # e.g. no metadata while the broker is down
            self._fail()
            raise SinkError(f"could not send to {self.topic}: {exc}") from exc

    def flush(self) -> None:
        pending = self._pending
        if not pending:  # nothing sent since the last flush (most batches have no dead letter)
            return
        try:
            self.producer.producer.flush(timeout=self.timeout_s)
        except (KafkaError, KafkaUnavailable) as exc:
            self._fail()
            raise SinkError(f"{self.topic}: the broker did not acknowledge within {self.timeout_s:.0f}s") from exc
        failed = [f for f in pending if not f.is_done or f.failed()]
        self._pending = []
        if failed:
            first = failed[0].exception if failed[0].is_done else "no acknowledgement"
            self._fail()
            raise SinkError(f"{len(failed)} of {len(pending)} records to {self.topic} not acknowledged: {first}")

    def _fail(self) -> None:
        self._pending = []
        self.producer.renew()


class KafkaScoredSink(Sink[ScoredTweet]):
    """``tweets.scored``: a batch's records encoded as they come, sent together on ``flush()`` and acknowledged
    partition batch by partition batch (stream/kafka/batch_publish.py)."""

    def __init__(self, publisher: BatchPublisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic
        self._pending: list[tuple[bytes | None, bytes]] = []

    def add(self, item: ScoredTweet) -> None:
        self._pending.append((item.tweet.id.encode(), item.encode()))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        self.publisher.send_all(self.topic, pending)  # raises SinkError; the pipeline adds the batch again


class KafkaDeadLetterSink(_AcknowledgedSink, Sink[DeadLetter]):
    """Original bytes as the value, error and origin in headers (the Kafka Connect DLQ convention)."""

    def __init__(self, producer: RenewableProducer, topic: str, timeout_s: float = 40.0) -> None:
        super().__init__(producer, topic, timeout_s)

    def add(self, item: DeadLetter) -> None:
        self._send(item.message.key, item.message.value or b"", item.headers())
