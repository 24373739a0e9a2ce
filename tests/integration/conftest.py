"""Fixtures for tests against the real servers started by ``deploy/stack.sh start`` (``make test`` does it).

Each test gets its own database, its own topics and its own consumer group, so tests cannot see each
other's data. Nothing here is mocked: the scorer runs as a real ``badbuzz services scorer`` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer

from badbuzz.services.tools.bench_pipeline import free_port  # never the same port twice in one session
from badbuzz.stream.kafka.clients import ensure_topics
from badbuzz.stream.scoring.topics import EXAMPLE_TOPICS
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Stack:
    kafka: str
    database_url: str
    prometheus_url: str
    prometheus_targets: Path


@pytest.fixture(scope="session")
def stack() -> Stack:
    names = ["BADBUZZ_KAFKA_BOOTSTRAP", "BADBUZZ_DATABASE_URL", "BADBUZZ_PROMETHEUS_URL", "BADBUZZ_PROMETHEUS_TARGETS"]
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.fail(f"{', '.join(missing)} unset: run the suite with `make test` (it starts the real servers), "
                    "or `eval \"$(deploy/stack.sh env)\"` after `deploy/stack.sh start`")
    return Stack(os.environ["BADBUZZ_KAFKA_BOOTSTRAP"], os.environ["BADBUZZ_DATABASE_URL"],
                 os.environ["BADBUZZ_PROMETHEUS_URL"], Path(os.environ["BADBUZZ_PROMETHEUS_TARGETS"]))


@pytest.fixture
def database(stack: Stack) -> Iterator[str]:
    """A fresh PostgreSQL database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = stack.database_url.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Topics:
    raw: str
    scored: str
    dlq: str
    group: str


@pytest.fixture
def topics(stack: Stack) -> Topics:
    run = uuid.uuid4().hex[:10]
    t = Topics(f"it-{run}.raw", f"it-{run}.scored", f"it-{run}.dlq", f"badbuzz-it-{run}")
    ensure_topics(stack.kafka, [t.raw, t.scored, t.dlq], partitions=4, max_message_bytes=8 * 1024 * 1024)
    return t


def scrape_metric(port: int, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of a metric's samples on a process's /metrics (0 when absent or not up yet)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                total += s.value
    return total


class ServiceProcess:
    """One ``badbuzz services <service>`` as a real OS process in its own process group."""

    service = ""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.metrics_port = int(env["BADBUZZ_METRICS_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The ``badbuzz`` arguments this process runs."""
        return ["services", self.service]

    def start(self) -> Self:
        fh = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "badbuzz.services.cli", *self.command()],
                                     env=self.env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def restart(self) -> Self:
        """SIGTERM and a new process, as a rolling update does; the old one must exit by itself."""
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(60)
        return self.start()

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return scrape_metric(self.metrics_port, name, labels)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


class ScorerProcess(ServiceProcess):
    service = "scorer"


class CommandProcess(ServiceProcess):
    """Any ``badbuzz`` command (``ingest bluesky …``, ``services api``) as a real OS process."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        super().__init__(env, log)

    def command(self) -> list[str]:
        return self.args


@pytest.fixture
def am_receiver() -> Iterator[Receiver]:
    """Listens where the stack's Alertmanager delivers (BADBUZZ_AM_WEBHOOK_URL), for this test's duration."""
    url = urllib.parse.urlsplit(os.environ["BADBUZZ_AM_WEBHOOK_URL"])
    receiver = Receiver(url.hostname or "127.0.0.1", url.port or 80)
    yield receiver
    receiver.close()


#: runs a test once per scorer engine (BADBUZZ_SCORER_ENGINE): the same guarantees hold on both
ON_EVERY_ENGINE = pytest.mark.parametrize("scorer_engine", ["faust", "kafka-python"])


@pytest.fixture
def scorer_engine() -> str:
    """BADBUZZ_SCORER_ENGINE of the scorers a test starts; a test parametrised on ``scorer_engine`` runs on each."""
    return "faust"


@pytest.fixture
def scorer_factory(stack: Stack, topics: Topics, database: str, tiny_model_dir: Path, tiny_emotion_model_dir: Path,
                   tmp_path: Path, scorer_engine: str) -> Iterator[Callable[..., ScorerProcess]]:
    started: list[ScorerProcess] = []

    def make(replica: str = "0", **overrides: str) -> ScorerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BADBUZZ_")}
        env.update({
            "BADBUZZ_KAFKA_BOOTSTRAP": stack.kafka,
            "BADBUZZ_DATABASE_URL": database,
            "BADBUZZ_KAFKA_TOPIC_RAW": topics.raw,
            "BADBUZZ_KAFKA_TOPIC_SCORED": topics.scored,
            "BADBUZZ_KAFKA_TOPIC_DLQ": topics.dlq,
            "BADBUZZ_CONSUMER_GROUP": topics.group,
            "BADBUZZ_MODEL_DIR": str(tiny_model_dir),
            "BADBUZZ_EMOTION_MODEL_DIR": str(tiny_emotion_model_dir),
            # a standalone emotion model, run on the negatives only (the released one is a branch that gives
            # every tweet its emotions; tests/unit/test_branch.py and test_released_models.py cover it)
            "BADBUZZ_EMOTIONS": "negative",
            "BADBUZZ_HOME": str(tmp_path / "home"),
            "BADBUZZ_REPLICA": replica,
            "BADBUZZ_METRICS_PORT": str(free_port()),
            "BADBUZZ_LOG_LEVEL": "INFO",
            "BADBUZZ_BATCH_MAX_SIZE": "32",
            "BADBUZZ_BATCH_MAX_WAIT_S": "0.1",
            "BADBUZZ_SCORER_ENGINE": scorer_engine,
            # the brand configuration every shipped deployment uses: records may only carry its topics
            "BADBUZZ_TOPICS_FILE": str(EXAMPLE_TOPICS),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(overrides)
        p = ScorerProcess(env, tmp_path / f"scorer-{replica}-{len(started)}.log")
        started.append(p)
        return p.start()

    yield make
    for p in started:
        p.stop()


RUN_STARTED = datetime.now(UTC).replace(second=0, microsecond=0)  # inside the scorer's event-time window


def tweet(i: int, prefix: str) -> tuple[bytes, bytes]:
    tid = f"{prefix}{i}"
    value = json.dumps({"id": tid, "text": f"flight {i}: " + ("so late, awful" if i % 3 else "great crew, thanks"),
                        "created_at": RUN_STARTED.isoformat()}).encode()
    return tid.encode(), value


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]],
            pace_per_s: float | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=8 * 1024 * 1024,
                             linger_ms=5)
    try:
        for n, (key, value) in enumerate(records):
            producer.send(topic, key=key, value=value)
            if pace_per_s and n % 50 == 49:
                producer.flush()
                time.sleep(50 / pace_per_s)
        producer.flush()
    finally:
        producer.close()


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list:  # type: ignore[type-arg]
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=1000,
                             fetch_max_bytes=16 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
    records = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            records.extend(consumer)
    finally:
        consumer.close()
    return records


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, on_fail: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}\n{on_fail()}")


def committed_offsets(bootstrap: str, group: str) -> int:
    """Sum of the group's committed offsets (= messages it will not read again)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        return sum(meta.offset for meta in offsets.values() if meta.offset > 0)
    finally:
        admin.close()


def group_lag(bootstrap: str, topic: str, group: str) -> dict[int, tuple[int, int]]:
    """(committed offset, end offset) per partition of ``topic`` for ``group``: a stalled consumer shows here."""
    from kafka import KafkaAdminClient, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        committed = {tp.partition: meta.offset for tp, meta in admin.list_group_offsets({group: None})
                     .get(group, {}).items() if tp.topic == topic}
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        return {tp.partition: (committed.get(tp.partition, -1), end) for tp, end in ends.items()}
    finally:
        consumer.close()
        admin.close()


def where_are_they(stack: Stack, topics: Topics, expected: set[str], stored: set[str]) -> str:
    """Why ``expected`` is not all ``stored``: lost before Kafka (the source), held or lost after (the scorer)."""
    raw_ids: set[str] = set()
    for record in consume_all(stack.kafka, topics.raw, expected=10**9, timeout_s=20):
        try:
            raw_ids.add(str(json.loads(record.value)["id"]))
        except (ValueError, KeyError, TypeError):
            continue
    missing = expected - stored
    dead = consume_all(stack.kafka, topics.dlq, expected=10**9, timeout_s=5)
    return (f"{len(stored & expected)}/{len(expected)} stored; of the {len(missing)} missing, "
            f"{len(missing & raw_ids)} are in {topics.raw} (scorer) and {len(missing - raw_ids)} are not "
            f"(source), e.g. {sorted(missing)[:5]}; {len(dead)} dead letters; committed/end offsets per "
            f"partition {group_lag(stack.kafka, topics.raw, topics.group)}")


def row_stats(database_url: str) -> tuple[int, int, float, float]:
    """(rows, distinct ids, min p_negative, max p_negative) in scored_tweets; zeros before the table exists."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('scored_tweets') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return (0, 0, 0.0, 0.0)
        row = conn.execute("SELECT count(*), count(DISTINCT tweet_id), coalesce(min(p_negative), 0), "
                           "coalesce(max(p_negative), 0) FROM scored_tweets").fetchone()
        assert row is not None
        return (int(row[0]), int(row[1]), float(row[2]), float(row[3]))


def prometheus_query(stack: Stack, promql: str) -> float | None:
    url = f"{stack.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    doc = json.loads(urllib.request.urlopen(url, timeout=5).read())
    result = doc["data"]["result"]
    return float(result[0]["value"][1]) if result else None


Offset = tuple[int, int]  # (partition, offset) of a message in the input topic


def produce_tracked(bootstrap: str, topic: str, values: list[bytes]) -> list[Offset]:
    """Produce and return each message's (partition, offset), in order, as the broker acknowledged it."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=8 * 1024 * 1024,
                             linger_ms=5)
    try:
        futures = [producer.send(topic, value=v) for v in values]
        producer.flush()
        return [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
    finally:
        producer.close()


def stored_offsets(database_url: str) -> list[Offset]:
    """(source partition, source offset) of every stored row (duplicates kept, so doubles can be counted)."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('scored_tweets') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return []
        rows = conn.execute("SELECT source_partition, source_offset FROM scored_tweets").fetchall()
    return [(int(p), int(o)) for p, o in rows]


def dead_letters(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> dict[Offset, list[str]]:
    """Dead letters by their source (partition, offset): the kinds recorded for each (more than one = doubled)."""
    found: dict[Offset, list[str]] = {}
    for r in consume_all(bootstrap, topic, expected, timeout_s):
        h = dict(r.headers)
        key = (int(h["badbuzz.source.partition"]), int(h["badbuzz.source.offset"]))
        found.setdefault(key, []).append(h["badbuzz.error.kind"].decode())
    return found


def redelivered(database_url: str, values: Mapping[Offset, bytes]) -> set[Offset]:
    """The messages among these whose tweet id is already stored (a redelivery of a stored tweet)."""
    ids = {o: tid for o, v in values.items() if (tid := _tweet_id(v)) is not None}
    if not ids:
        return set()
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tweet_id FROM scored_tweets WHERE tweet_id = ANY(%s)",
                            (sorted(set(ids.values())),)).fetchall()
    stored = {r[0] for r in rows}
    return {o for o, tid in ids.items() if tid in stored}


def _tweet_id(value: bytes) -> str | None:
    """The tweet id a raw message carries, as the scorer reads it (a string or an integer), or None."""
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    tid = doc.get("id") if isinstance(doc, dict) else None
    return str(tid).strip() if isinstance(tid, str | int) and not isinstance(tid, bool) else None


@dataclass(frozen=True)
class Conservation:
    produced: int
    stored: int
    dead: int
    lost: list[Offset]
    doubled: list[Offset]

    def line(self, what: str) -> str:
        return (f"[measure] {what}: produced {self.produced} / stored {self.stored} / DLQ {self.dead} / "
                f"lost {len(self.lost)} / doubled {len(self.doubled)}")


def conservation(produced: list[Offset], stored: list[Offset], dead: dict[Offset, list[str]]) -> Conservation:
    """Every produced message must end as exactly one stored row or exactly one dead letter."""
    from collections import Counter

    ends = Counter(stored) + Counter({k: len(v) for k, v in dead.items()})
    lost = [o for o in produced if ends[o] == 0]
    doubled = [o for o in produced if ends[o] > 1]
    return Conservation(len(produced), len(set(stored) & set(produced)), len(set(dead) & set(produced)), lost, doubled)


def wait_for_ends(stack: Stack, topics: Topics, database: str, produced: list[Offset], scorer: ScorerProcess,
                  timeout_s: float = 180, sent: Mapping[Offset, bytes] | None = None) -> Conservation:
    """Wait until every produced message is stored or dead-lettered; return the final count. With ``sent``
    (offset → value), a timeout names the first messages still unaccounted for, not only how many."""
    want = set(produced)
    result: list[Conservation] = []

    def done() -> bool:
        dead = dead_letters(stack.kafka, topics.dlq, len(produced), timeout_s=3)
        c = conservation(produced, stored_offsets(database), dead)
        if sent is not None and c.lost:
            # the same tweet delivered again (same id, same text) ends as the row already stored: the store is
            # idempotent by tweet id, and a different text under a stored id is dead-lettered (duplicate_id)
            again = redelivered(database, {o: sent[o] for o in c.lost if o in sent})
            c = replace(c, lost=[o for o in c.lost if o not in again], stored=c.stored + len(again))
        result[:] = [c]
        return not c.lost and len(want) == c.stored + c.dead

    def missing() -> str:
        if not result or sent is None:
            return ""
        return "\n".join(f"unaccounted {o}: {sent[o][:200]!r}" for o in result[0].lost[:10] if o in sent)

    wait_until(done, timeout_s, "every message stored or dead-lettered",
               lambda: (result[0].line("so far") if result else "") + "\n" + missing() + "\n" + scorer.tail())
    return result[0]


ALERTER_SECRET = "integration-test-secret-0123456789"


class AlerterProcess(ServiceProcess):
    """One alerter, registered as a Prometheus target under the test's label while it runs."""

    service = "alerter"

    def __init__(self, stack: Stack, topics: Topics, database: str, webhook_url: str, log: Path,
                 **overrides: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BADBUZZ_")}
        env.update({
            "BADBUZZ_DATABASE_URL": database, "BADBUZZ_REDIS_URL": os.environ["BADBUZZ_REDIS_URL"],
            "BADBUZZ_METRICS_PORT": str(free_port()), "BADBUZZ_WEBHOOK_URLS": webhook_url,
            "BADBUZZ_WEBHOOK_ALLOW_HTTP": "loopback",  # the test receiver is plain http on 127.0.0.1
            "BADBUZZ_WEBHOOK_SECRET": ALERTER_SECRET, "BADBUZZ_ALERT_POLL_S": "0.5",
            # the episode streams resolve 17 minutes after the episode: alerts kept open 10 min, not an hour
            "BADBUZZ_ALERT_KEEP_FIRING_MINUTES": "10",
            # the team pages on its brand topics; 'all' may also move when a large share of traffic is angry
            "BADBUZZ_ALERT_TOPICS": "air-paradis,baggage", "BADBUZZ_TOPICS_FILE": str(EXAMPLE_TOPICS),
            "BADBUZZ_REDIS_PREFIX": f"{topics.group}:", "BADBUZZ_HOME": str(log.parent / "alerter"),
            "BADBUZZ_PROMETHEUS_TARGETS": str(stack.prometheus_targets),
            "BADBUZZ_PROMETHEUS_LABELS": f"test_run={topics.group}",
            "PYTHONUNBUFFERED": "1"})
        env.update(overrides)
        super().__init__(env, log)
        self.prefix = f"{topics.group}:"
        # the alerter registers its own scrape target (stream/scoring/metrics.py ScrapeTarget) while it runs
        self.target = stack.prometheus_targets / f"alerter-127.0.0.1-{self.metrics_port}.json"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real local webhook endpoint."""
    r = Receiver()
    yield r
    r.close()


class ApiProcess:
    """``badbuzz services api`` as a real OS process on a free port, with one API key of ``role``; ``start()``
    returns once ``/healthz`` answers."""

    def __init__(self, database: str, model_dir: Path, log: Path, *, role: str = "write", key_name: str = "comms",
                 **overrides: str) -> None:
        from badbuzz.services.api.auth import new_key

        self.key, entry = new_key(key_name, role)  # type: ignore[arg-type]
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BADBUZZ_")}
        self.env.update({"BADBUZZ_DATABASE_URL": database, "BADBUZZ_MODEL_DIR": str(model_dir),
                         "BADBUZZ_EMOTIONS": "off", "BADBUZZ_API_KEYS": entry, "BADBUZZ_API_PORT": str(self.port),
                         "BADBUZZ_HOME": str(log.parent / "api-home"), **overrides})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "badbuzz.services.cli", "services", "api"],
                                         env=self.env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.get("/healthz") == 200, 60, "the API answering /healthz",
                   lambda: self.log.read_text(errors="replace"))
        return self

    def get(self, path: str, key: str | None = None) -> int:
        """The status of a GET (0 when nothing answers)."""
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {key}"} if key else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            return 0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
