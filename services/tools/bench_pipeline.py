"""The scorer on the real Kafka → scorer → PostgreSQL path, with where its CPU went.

One run produces a stream to fresh topics, starts a scorer process on them and waits until every tweet is
stored. Throughput comes from the rows' own ``scored_at`` (first stored batch to last, so start-up is not
counted). CPU comes from ``/proc`` (utime + stime, sampled when the first rows are stored and when the last
are): the scorer by thread (its event loop: Kafka fetches, offset commits, faust; its worker threads: the
stages) and the servers beside it (the Kafka broker, every PostgreSQL process), so a report can say how the
cores were shared. The scorer's own per-stage counters (``badbuzz_scorer_stage_cpu_seconds``) are scraped at
the same two moments.

``badbuzz bench --null-model`` runs it with ``BADBUZZ_NULL_MODEL=1``: tokenisation as served, no inference,
i.e. the pipeline's own ceiling, the rate a GPU scorer would be held to.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from badbuzz.services.settings import Settings
from badbuzz.services.storage.scores import make_engine
from badbuzz.services.storage.tables import ScoredTweetRow
from badbuzz.stream.kafka.clients import ensure_topics, make_producer
from badbuzz.stream.scoring.metrics import LOOP_STAGES, STAGES

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
STAGE_METRIC = re.compile(r'^badbuzz_scorer_stage_cpu_seconds_total\{stage="(\w+)"\} ([0-9.eE+-]+)$', re.M)
ROWS_METRIC = re.compile(r"^badbuzz_rows_inserted_total ([0-9.eE+-]+)$", re.M)


@dataclass
class CpuSample:
    """CPU seconds so far: the scorer's threads (by tid; its main thread has the process's pid), the scorer's
    stage counters, the broker, and PostgreSQL's processes (by pid: backends come and go)."""

    at: float
    rows: int  # rows the scorer had inserted
    scorer_threads: dict[int, float]
    stages: dict[str, float]
    kafka: float
    postgres: dict[int, float]


@dataclass
class PipelineRun:
    tweets: int
    tps: float  # from the rows' scored_at: first stored batch to last
    # CPU seconds between two samples: when the first rows were stored and when the last were
    window_s: float = 0.0
    window_tweets: int = 0  # rows stored in that window
    scorer_total: float = 0.0
    # the scorer's main thread outside the stages: on faust, aiokafka fetches, faust's loop and offset commits (the
    # stages run in worker threads); on kafka-python, the loop around the consume and commit stages
    event_loop: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)  # CPU per stage (the scorer's counters)
    kafka: float = 0.0
    postgres: float = 0.0
    engine: str = "faust"  # what consumed tweets.raw (BADBUZZ_SCORER_ENGINE)

    @property
    def other_threads(self) -> float:
        """Scorer CPU outside its loop and its stages: the Kafka producer's I/O thread, ONNX Runtime's pool."""
        return max(0.0, self.scorer_total - self.event_loop - sum(self.stages.values()))

    def per_tweet_us(self, seconds: float) -> float:
        return seconds / max(1, self.window_tweets) * 1e6

    def share(self, seconds: float) -> float:
        """Of the machine's cores over the window (1.0: every core busy)."""
        return seconds / max(1e-9, self.window_s * (os.cpu_count() or 1))


def _ticks(stat_path: Path) -> float:
    """utime + stime of one /proc stat file, in seconds (0 when the process or thread is gone)."""
    try:
        text = stat_path.read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3, utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / TICK


def _pids(match: Callable[[str, str], bool]) -> list[int]:
    """Processes whose (comm, cmdline) match."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match(comm, cmdline):
            out.append(int(entry.name))
    return out


def _is_kafka(comm: str, cmdline: str) -> bool:
    return comm == "java" and "kafka.Kafka" in cmdline


def _is_postgres(comm: str, cmdline: str) -> bool:
    return comm.startswith("postgres") or cmdline.startswith("postgres:")


def scrape(metrics_url: str) -> tuple[int, dict[str, float]]:
    """(rows inserted, CPU seconds per stage) from the scorer's /metrics; (0, {}) before it serves them."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0, {}
    rows = ROWS_METRIC.search(text)
    return (int(float(rows.group(1))) if rows else 0,
            {m.group(1): float(m.group(2)) for m in STAGE_METRIC.finditer(text)})


def scrape_all(metrics_urls: Sequence[str]) -> tuple[int, dict[str, float]]:
    """:func:`scrape` summed over the replicas."""
    rows, stages = 0, dict.fromkeys((*STAGES, *LOOP_STAGES), 0.0)
    for url in metrics_urls:
        n, per_stage = scrape(url)
        rows += n
        for k, v in per_stage.items():
            stages[k] = stages.get(k, 0.0) + v
    return rows, stages


def sample(scorer_pids: Sequence[int], metrics_urls: Sequence[str]) -> CpuSample:
    threads: dict[int, float] = {}
    for pid in scorer_pids:  # thread ids are unique across processes
        tasks = Path(f"/proc/{pid}/task")
        if tasks.is_dir():
            threads.update({int(t.name): _ticks(t / "stat") for t in tasks.iterdir()})
    rows, stages = scrape_all(metrics_urls)
    return CpuSample(time.monotonic(), rows, threads, stages,
                     sum(_ticks(Path(f"/proc/{p}/stat")) for p in _pids(_is_kafka)),
                     {p: _ticks(Path(f"/proc/{p}/stat")) for p in _pids(_is_postgres)})


def account(run: PipelineRun, before: CpuSample, after: CpuSample, scorer_pids: Sequence[int]) -> PipelineRun:
    """``run`` with the CPU each part used between the two samples (threads and backends that started in
    between count from zero)."""
    run.window_s, run.window_tweets = after.at - before.at, after.rows - before.rows
    threads = {tid: cpu - before.scorer_threads.get(tid, 0.0) for tid, cpu in after.scorer_threads.items()}
    run.scorer_total = sum(threads.values())
    main = sum(threads.get(pid, 0.0) for pid in scorer_pids)  # a process's main thread has its pid
    names = (LOOP_STAGES[0], *STAGES, LOOP_STAGES[1]) if run.engine == "kafka-python" else STAGES
    run.stages = {s: after.stages.get(s, 0.0) - before.stages.get(s, 0.0) for s in names}
    # the kafka-python engine consumes and commits on its main thread, validates and scores on its scoring threads
    # and stores and publishes on its delivery thread (stream/kafka/batch_consumer.py); faust runs every stage in
    # worker threads
    on_main = ("consume", "commit") if run.engine == "kafka-python" else ()
    run.event_loop = max(0.0, main - sum(run.stages.get(s, 0.0) for s in on_main))
    run.kafka = after.kafka - before.kafka
    run.postgres = sum(cpu - before.postgres.get(pid, 0.0) for pid, cpu in after.postgres.items())
    return run


_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on now, and never one this process handed out before.

    The port is released before its user binds it, so two calls in a row may get the same number from the
    kernel: a test that picked the API's port and then a metrics port for each service once ran its API on a
    port a metrics server had taken (its POST answered 405 by prometheus_client)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def pipeline_run(settings: Settings, replay: Sequence[Any], *, null_model: bool = False,
                 timeout_s: float = 600.0, replicas: int = 1) -> PipelineRun:
    """Produce ``replay`` (RawTweets) to fresh topics, run ``replicas`` scorer processes (one consumer group)
    on them until all are stored, and measure them together. The scorers get the settings' model, batching and
    emotion scope through their environment."""
    assert settings.kafka_bootstrap is not None
    run_id = uuid.uuid4().hex[:8]
    replay = [replace(t, id=f"{run_id}-{t.id}") for t in replay]
    expected = len({t.id for t in replay})  # an id sent twice is stored once (Sentiment140 repeats a few ids)
    raw, scored, dlq = f"bench-{run_id}.raw", f"bench-{run_id}.scored", f"bench-{run_id}.dlq"
    security = settings.kafka_security()
    ensure_topics(settings.kafka_bootstrap, [raw, scored, dlq], settings.partitions, settings.kafka_max_request_bytes,
                  security, config=settings.kafka_topic_config())
    producer = make_producer(settings.kafka_bootstrap, settings.kafka_max_request_bytes, security)
    for t in replay:
        producer.send(raw, key=t.id.encode(), value=t.record())
    producer.flush()
    producer.close()
    env = dict(os.environ)
    env.update({"BADBUZZ_KAFKA_TOPIC_RAW": raw, "BADBUZZ_KAFKA_TOPIC_SCORED": scored, "BADBUZZ_KAFKA_TOPIC_DLQ": dlq,
                "BADBUZZ_CONSUMER_GROUP": f"bench-{run_id}", "BADBUZZ_METRICS_ADDR": "127.0.0.1",
                "BADBUZZ_LOG_LEVEL": "WARNING",
                "BADBUZZ_MODEL_DIR": str(settings.resolved_model_dir), "BADBUZZ_HOME": str(settings.home),
                "BADBUZZ_EMOTION_MODEL_DIR": str(settings.resolved_emotion_model_dir),
                "BADBUZZ_EMOTIONS": settings.emotions, "BADBUZZ_ONNX_SUB_BATCH": str(settings.onnx_sub_batch),
                "BADBUZZ_BATCH_MAX_SIZE": str(settings.batch_max_size), "BADBUZZ_LANGUAGES": settings.languages,
                "BADBUZZ_NULL_MODEL": "1" if null_model else "0", "BADBUZZ_SCORER_ENGINE": settings.scorer_engine})
    env.pop("BADBUZZ_PROMETHEUS_TARGETS", None)  # not registered as a scrape target: a benchmark, not a service
    ports = [free_port() for _ in range(replicas)]
    procs = [subprocess.Popen([sys.executable, "-m", "badbuzz.services.cli", "services", "scorer"],
                              env={**env, "BADBUZZ_REPLICA": f"bench-{run_id}-{i}", "BADBUZZ_METRICS_PORT": str(port)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
             for i, port in enumerate(ports)]
    pids = [p.pid for p in procs]
    metrics_urls = [f"http://127.0.0.1:{port}/metrics" for port in ports]
    engine = make_engine(settings.resolved_database_url)
    prefix = f"{run_id}-%"
    rows = ScoredTweetRow
    before: CpuSample | None = None
    try:
        deadline = time.monotonic() + timeout_s
        while True:  # the scorers' own row counters: cheap to poll often, unlike a count over the table
            stored, _ = scrape_all(metrics_urls)
            if before is None and stored > 0:
                before = sample(pids, metrics_urls)
            if stored >= expected:
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a scorer exited during the benchmark")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scorers did not finish the benchmark stream within {timeout_s:.0f} s")
            time.sleep(0.5)  # each scrape renders every metric: at 0.1 s that was ~3 % of the scorer's CPU
        after = sample(pids, metrics_urls)
        with engine.connect() as conn:
            first, last = conn.execute(
                select(func.min(rows.scored_at), func.max(rows.scored_at)).where(rows.tweet_id.like(prefix))
            ).one()
            in_first = conn.execute(
                select(func.count()).where(rows.tweet_id.like(prefix), rows.scored_at == first)
            ).scalar_one()
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(30)
        engine.dispose()
    seconds = max(1e-6, (last - first).total_seconds())
    result = PipelineRun(expected - in_first, (expected - in_first) / seconds, engine=settings.scorer_engine)
    return account(result, before or after, after, pids)
