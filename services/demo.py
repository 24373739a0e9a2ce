"""``badbuzz demo``: the main job end to end in embedded mode, on any machine, no servers.

Finds (or downloads) Sentiment140, makes sure a model exists (training a small one if needed), replays
tweets through the in-process stream into SQLite, then prints a summary and writes the negative-rate PNG.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry
from tqdm.auto import tqdm

from badbuzz.models.data import find_sentiment140
from badbuzz.services.embedded import InProcessTopic, consume, produce_in_thread
from badbuzz.services.model_setup import ensure_model
from badbuzz.services.plots import minute_rates, plot_negative_rate
from badbuzz.services.scorer import load_model
from badbuzz.services.settings import Settings
from badbuzz.services.storage import ScoreStore, make_engine
from badbuzz.stream.batcher import MicroBatcher
from badbuzz.stream.contracts import DeadLetter, IncomingMessage, ScoredTweet
from badbuzz.stream.kafka_io import replay_record
from badbuzz.stream.metrics import ScorerMetrics, serve_metrics
from badbuzz.stream.pipeline import ScoringPipeline
from badbuzz.stream.replay import retime, shuffled_rows
from badbuzz.stream.sinks import ListSink
from badbuzz.stream.topics import TopicMatcher


def run_demo(settings: Settings, *, tweets: int, per_minute: float, train_steps: int, seed: int) -> dict[str, object]:
    if settings.data is None:
        raise SystemExit("no data: pass --data PATH (a Sentiment140 CSV or a folder holding one) or --download")
    data = find_sentiment140(settings.data)
    settings.home.mkdir(parents=True, exist_ok=True)
    ensure_model(settings.resolved_model_dir, data, settings.base_model, max_steps=train_steps,
                 work_dir=settings.home)
    model = load_model(settings)
    registry = CollectorRegistry()
    metrics = ScorerMetrics(registry)
    serve_metrics(registry, settings.metrics_port, settings.metrics_addr)
    store = ScoreStore(make_engine(settings.resolved_database_url))
    scored: ListSink[ScoredTweet] = ListSink()
    dead: ListSink[DeadLetter] = ListSink()
    pipeline = ScoringPipeline(model, store, scored, dead, metrics, limits=settings.limits,
                               topics=TopicMatcher.from_file(settings.topics_file))
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    replay = list(retime(shuffled_rows(data, seed=seed, limit=tweets), start=start, per_minute=per_minute,
                         seed=seed, id_prefix=f"demo{seed}-"))
    truth = {t.id: t.label for t in replay}
    topic = InProcessTopic(settings.topic_raw)
    produce_in_thread(topic, ((replay_record(t), t.id.encode()) for t in replay))
    batcher: MicroBatcher[IncomingMessage] = MicroBatcher(
        settings.batch_max_size, settings.batch_max_wait_s, clock=_monotonic
    )
    with tqdm(total=len(replay), desc="score", unit="tweet") as bar:
        totals = consume(topic, pipeline, batcher, on_batch=lambda r: bar.update(r.scored + r.dead))
    labels = Counter(s.label for s in scored.items)
    judged = [s for s in scored.items if truth.get(s.tweet.id) in {"negative", "positive"}]
    accuracy = sum(s.label == truth[s.tweet.id] for s in judged) / max(1, len(judged))
    rates = minute_rates((s.tweet.created_at, s.label) for s in scored.items)
    png = plot_negative_rate(rates, settings.home / "negative_rate.png",
                             f"Negative share per minute — {len(scored.items)} replayed tweets, model {model.version}")
    summary: dict[str, object] = {
        "data": str(data),
        "model": model.version,
        "providers": model.providers,
        "tweets_scored": totals.scored,
        "rows_inserted": totals.inserted,
        "rows_in_store": store.count(),
        "dead_letters": totals.dead,
        "batches": totals.batches,
        "tweets_per_second": round(totals.scored / totals.seconds, 1) if totals.seconds else None,
        "labels": dict(labels),
        "accuracy_vs_sentiment140_labels": round(accuracy, 4),
        "stream_minutes": len(rates),
        "database": settings.resolved_database_url,
        "plot": str(png),
    }
    print(json.dumps(summary, indent=2))
    return summary


def _monotonic() -> float:
    import time

    return time.monotonic()


def download_sentiment140(target_dir: Path, url: str) -> Path:
    """Fetch the official Sentiment140 archive (≈81 MB) with a progress bar; returns the CSV's folder."""
    import urllib.request
    import zipfile

    target_dir.mkdir(parents=True, exist_ok=True)
    archive = target_dir / "trainingandtestdata.zip"
    if not archive.is_file():
        with urllib.request.urlopen(url, timeout=60) as resp, open(archive.with_suffix(".part"), "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc="download") as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        archive.with_suffix(".part").rename(archive)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(target_dir)
    return target_dir
