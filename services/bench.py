"""``badbuzz bench``: end-to-end Kafka → scorer → PostgreSQL tweets/s against inference-only tweets/s.

Both numbers come from the same run, the same model directory, the same batch size and thread settings, on
the same texts, so their ratio is the pipeline's overhead on this machine. The end-to-end rate is taken
over the scorer's steady state (first stored batch to last), from the rows' own ``scored_at`` stamps, so
worker start-up time is not counted against the pipeline.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from badbuzz.models.data import find_sentiment140
from badbuzz.services.model_setup import ensure_model
from badbuzz.services.scorer import load_model
from badbuzz.services.settings import Settings
from badbuzz.services.storage import make_engine
from badbuzz.services.tables import ScoredTweetRow
from badbuzz.stream.kafka_io import ensure_topics, make_producer, replay_record
from badbuzz.stream.replay import retime, shuffled_rows

TARGET_RATIO = 0.75


@dataclass
class BenchResult:
    tweets: int
    inference_tps: float
    end_to_end_tps: float
    model: str
    providers: list[str]
    batch_size: int

    @property
    def ratio(self) -> float:
        return self.end_to_end_tps / self.inference_tps


def run_bench(settings: Settings, *, tweets: int, output: Path) -> BenchResult:
    if settings.kafka_bootstrap is None or settings.database_url is None:
        raise SystemExit("bench needs the servers: `make bench`, or set BADBUZZ_KAFKA_BOOTSTRAP and "
                         "BADBUZZ_DATABASE_URL (deploy/stack.sh start; eval \"$(deploy/stack.sh env)\")")
    if settings.data is None:
        raise SystemExit("pass --data or set BADBUZZ_DATA")
    data = find_sentiment140(settings.data)
    ensure_model(settings.resolved_model_dir, data, settings.base_model, max_steps=400, work_dir=settings.home)
    run = uuid.uuid4().hex[:8]
    start = datetime.now(UTC)
    replay = list(retime(shuffled_rows(data, seed=11, limit=tweets), start=start, per_minute=600, seed=11,
                         id_prefix=f"bench-{run}-"))
    inference_tps, model_version, providers = _inference_only(settings, [t.text for t in replay])
    end_to_end_tps = _end_to_end(settings, replay, run)
    result = BenchResult(len(replay), inference_tps, end_to_end_tps, model_version, providers,
                         settings.batch_max_size)
    _write_report(result, output)
    print(json.dumps({"inference_only_tps": round(inference_tps, 1), "end_to_end_tps": round(end_to_end_tps, 1),
                      "ratio": round(result.ratio, 3), "target": TARGET_RATIO, "report": str(output)}, indent=2))
    return result


def _inference_only(settings: Settings, texts: list[str]) -> tuple[float, str, list[str]]:
    model = load_model(settings)
    size = settings.batch_max_size
    model.predict(texts[:size])  # warm-up: first run allocates
    started = time.perf_counter()
    for i in range(0, len(texts), size):
        model.predict(texts[i : i + size])
    return len(texts) / (time.perf_counter() - started), model.version, model.providers


def _end_to_end(settings: Settings, replay: list, run: str) -> float:  # type: ignore[type-arg]
    assert settings.kafka_bootstrap is not None
    raw, scored, dlq = f"bench-{run}.raw", f"bench-{run}.scored", f"bench-{run}.dlq"
    ensure_topics(settings.kafka_bootstrap, [raw, scored, dlq], settings.partitions, settings.kafka_max_request_bytes)
    producer = make_producer(settings.kafka_bootstrap, settings.kafka_max_request_bytes)
    for t in replay:
        producer.send(raw, key=t.id.encode(), value=replay_record(t))
    producer.flush()
    producer.close()
    env = dict(os.environ)
    env.update({"BADBUZZ_TOPIC_RAW": raw, "BADBUZZ_TOPIC_SCORED": scored, "BADBUZZ_TOPIC_DLQ": dlq,
                "BADBUZZ_CONSUMER_GROUP": f"bench-{run}", "BADBUZZ_REPLICA": f"bench-{run}",
                "BADBUZZ_METRICS_PORT": "0", "BADBUZZ_LOG_LEVEL": "WARNING",
                "BADBUZZ_MODEL_DIR": str(settings.resolved_model_dir), "BADBUZZ_HOME": str(settings.home)})
    proc = subprocess.Popen([sys.executable, "-m", "badbuzz.services.cli", "services", "scorer"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    engine = make_engine(settings.resolved_database_url)
    prefix = f"bench-{run}-%"
    rows = ScoredTweetRow
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                n = conn.execute(select(func.count()).where(rows.tweet_id.like(prefix))).scalar_one()
            if n >= len(replay):
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the scorer exited with status {proc.returncode} during the benchmark")
            time.sleep(0.5)
        else:
            raise RuntimeError("the scorer did not finish the benchmark stream within 10 minutes")
        with engine.connect() as conn:
            first, last = conn.execute(
                select(func.min(rows.scored_at), func.max(rows.scored_at)).where(rows.tweet_id.like(prefix))
            ).one()
            in_first = conn.execute(
                select(func.count()).where(rows.tweet_id.like(prefix), rows.scored_at == first)
            ).scalar_one()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    return float((len(replay) - in_first) / max(1e-6, (last - first).total_seconds()))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores{mem}, {system}"


def _write_report(r: BenchResult, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    verdict = "meets" if r.ratio >= TARGET_RATIO else "MISSES"
    output.write_text(f"""# Benchmarks

## Pipeline overhead: end-to-end vs inference-only (`badbuzz bench`)

Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine()}.
Command: `make bench` (= `deploy/stack.sh start` then `badbuzz bench --tweets {r.tweets}`).

| measurement | tweets/s |
| --- | ---: |
| inference only (tokenize + ONNX Runtime, batches of {r.batch_size}, one process) | {r.inference_tps:,.1f} |
| end to end: Kafka `tweets.raw` → faust scorer → PostgreSQL (+ `tweets.scored`) | {r.end_to_end_tps:,.1f} |
| **ratio** | **{r.ratio:.3f}** |

Target: end-to-end ≥ {TARGET_RATIO} × inference-only; this run {verdict} it.
Model `{r.model}` on {", ".join(r.providers)}; {r.tweets} Sentiment140 tweets, all servers on the same machine
(Kafka, PostgreSQL and the benchmark share its cores with the scorer). End-to-end is measured from the first
stored batch to the last, from the rows' `scored_at`, after the whole stream was produced.
""")
