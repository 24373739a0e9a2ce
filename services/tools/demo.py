"""``badbuzz demo``: the main job end to end in embedded mode, on any machine, no servers.

Finds (or downloads) Sentiment140, loads the released models (or, with ``--train``, fine-tunes a small binary
one from scratch), replays a
few hours of stream — three watched topics with a daily curve and one injected bad-buzz episode — through
the in-process stream into SQLite, runs the alerter as it goes (alerts on the console and in a JSON-lines
file), then prints a summary and writes a timeline PNG with the alerts and the true episode marked.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import make_url, select
from tqdm.auto import tqdm

from badbuzz.models.data import find_sentiment140
from badbuzz.models.serving.model_dir import MANIFEST_NAME
from badbuzz.models.training.datasets import umsab_folder
from badbuzz.services.alerting.channels import AlertChannel, ConsoleChannel, FileChannel, OutboxDispatcher
from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore, as_utc
from badbuzz.services.alerting.webhook_channel import WebhookChannel
from badbuzz.services.cli_args import Subparsers, updated
from badbuzz.services.embedded import InProcessTopic, consume, produce_in_thread
from badbuzz.services.scorer import load_model
from badbuzz.services.settings import Settings
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.services.storage.tables import TopicMinuteRow
from badbuzz.services.tools.eval_alerts import load_pool, umsab_pool
from badbuzz.services.tools.model_setup import ensure_model
from badbuzz.services.tools.plots import plot_timelines, rates_from_rollups
from badbuzz.services.tools.replayer import scenario_record
from badbuzz.stream.contracts import DeadLetter, IncomingMessage, ScoredTweet
from badbuzz.stream.scoring.batcher import MicroBatcher
from badbuzz.stream.scoring.metrics import ScorerMetrics, serve_metrics
from badbuzz.stream.scoring.pipeline import BatchResult, ScoringPipeline
from badbuzz.stream.scoring.sinks import NullSink
from badbuzz.stream.scoring.topics import EXAMPLE_TOPICS
from badbuzz.stream.simulation.evaluation import AlertRecord, score
from badbuzz.stream.simulation.scenario import PoolTweet, Scenario, generate, standard_scenario

DEFAULT_TRAIN_STEPS = 400
FRENCH_SHARE = 0.4  # of the everyday stream, in the bilingual demo


BRAND_TOPIC = "air-paradis"
BRAND_MENTION = "@AirParadis"


def demo_scenario(settings: Settings, data: Path, start: datetime, *, hours: float,
                  seed: int) -> tuple[Scenario, list[PoolTweet]]:
    """Air Paradis's customers write in English and French: where the data folder holds UMSAB's French
    tweets, the demo's stream is bilingual (Sentiment140 in English, UMSAB in French, 40 % French) and its
    bad buzz is a French one; with Sentiment140 alone, an English stream and an English episode."""
    pool = load_pool(data)
    scenario = standard_scenario(start, seed=seed, days=hours / 24)
    french = umsab_folder(settings.data, "french")
    if french is None or settings.languages == "off":
        return scenario, pool
    # French tweets of the data talk about the brand, rarely about bags or delays in words the topics name
    # (UMSAB has one): the French wave is a wave about the brand, and a loud one, since the brand's topic
    # carries every tweet (its delays and baggage chatter in English too)
    episodes = tuple(replace(e, lang="fr", theme=None, topic=BRAND_TOPIC, per_minute=max(e.per_minute, 80.0),
                             multiplier=max(e.multiplier, 2.5)) for e in scenario.episodes)
    scenario = replace(scenario, episodes=episodes, languages={"en": 1 - FRENCH_SHARE, "fr": FRENCH_SHARE})
    return scenario, pool + umsab_pool(french, "fr")


def run_demo(settings: Settings, *, hours: float, train_steps: int, seed: int) -> dict[str, object]:
    if settings.topics_file is None:  # the demo brand's own configuration, as every shipped deployment uses
        settings = settings.model_copy(update={"topics_file": EXAMPLE_TOPICS})
    if settings.data is None:
        raise SystemExit("no data: pass --data PATH (a Sentiment140 CSV or a folder holding one) or --download")
    data = find_sentiment140(settings.data)
    settings.home.mkdir(parents=True, exist_ok=True)
    released_missing = settings.model_dir is None and not (settings.resolved_model_dir / MANIFEST_NAME).is_file()
    if released_missing and train_steps <= 0:
        print(f"[badbuzz] no released model in {settings.resolved_model_dir} (restore it with `git checkout -- "
              f"models/serving/released`): fine-tuning a small one instead, as `badbuzz demo --train` does")
        train_steps = DEFAULT_TRAIN_STEPS
    if train_steps > 0:  # `demo --train`: the training path from scratch, into HOME/model
        settings = settings.model_copy(update={"model_dir": settings.model_dir or settings.home / "model"})
        ensure_model(settings.resolved_model_dir, data, settings.base_model, max_steps=train_steps,
                     work_dir=settings.home)
    model = load_model(settings)
    registry = CollectorRegistry()
    serve_metrics(registry, settings.metrics_port, settings.metrics_addr)
    run_db = settings.home / f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}.db"
    url = settings.database_url.get_secret_value() if settings.database_url else f"sqlite:///{run_db.resolve()}"
    store = ScoreStore(make_engine(url))
    alerts_file = settings.alerts_file or settings.home / "alerts.jsonl"
    # the embedded channels: the console (above the progress bar), the JSON-lines file, and any webhook set
    channels: list[AlertChannel] = [ConsoleChannel(tqdm.write), FileChannel(str(alerts_file))]
    if settings.webhook_url_list and settings.webhook_secret is not None:
        channels.extend(WebhookChannel(u, settings.webhook_secret.get_secret_value().encode(),
                                       timeout_s=settings.webhook_timeout_s, allow_http=settings.webhook_allow_http,
                                       allowed_hosts=settings.webhook_allowed_host_list)
                        for u in settings.webhook_url_list)
    alert_store = AlertStore(store.engine)
    alerter = AlertService(alert_store, settings.detector_config(),
                           allowed_lateness=timedelta(seconds=settings.alert_allowed_lateness_s),
                           metrics=AlertMetrics(registry), channels=channels)
    dispatcher = OutboxDispatcher(alert_store, channels)
    pipeline = ScoringPipeline(model, store, NullSink[ScoredTweet](), NullSink[DeadLetter](), ScorerMetrics(registry),
                               limits=settings.limits, topics=settings.topic_matcher())

    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=hours)
    scenario, pool = demo_scenario(settings, data, start, hours=hours, seed=seed)
    scenario.write_truth(settings.home / "demo-truth.json")
    # the stream a connector following the brand would bring: every tweet names it, and each topic's tweets
    # are about that topic (a baggage alert shows tweets about bags)
    tweets = list(generate(scenario, pool, about=pipeline.topics.assign, brand=BRAND_MENTION))
    topic = InProcessTopic(settings.kafka_topic_raw)
    produce_in_thread(topic, ((scenario_record(t), t.id.encode()) for t in tweets))
    batcher: MicroBatcher[IncomingMessage] = MicroBatcher(
        settings.batch_max_size, settings.batch_max_wait_s, clock=time.monotonic
    )
    fired: list[tuple[str, datetime, datetime | None]] = []
    explained: list[dict[str, object]] = []  # what the first alerts said: summary, languages, examples

    def on_batch(result: BatchResult, bar: tqdm) -> None:
        bar.update(result.scored + result.dead)
        events = alerter.run_once()
        if events:
            dispatcher.deliver_due()
        for ev in events:
            if ev.state == "firing":
                fired.append((ev.topic, ev.fired_at, None))
                if len(explained) < 3:
                    explained.append({"summary": ev.summary(), "languages": ev.languages,
                                      "examples": [e.get("lang", "?") + ": " + e["text"][:100] for e in ev.examples]})
            else:
                fired[:] = [(t, f, ev.resolved_at if t == ev.topic and r is None else r) for t, f, r in fired]

    with tqdm(total=len(tweets), desc="stream", unit="tweet") as bar:
        totals = consume(topic, pipeline, batcher, on_batch=lambda r: on_batch(r, bar))
    truth = {t.id: t.negative for t in tweets}
    with store.engine.connect() as conn:
        rollups = [(t, as_utc(m), n, k) for t, m, n, k in conn.execute(
            select(TopicMinuteRow.topic, TopicMinuteRow.minute, TopicMinuteRow.n, TopicMinuteRow.n_negative))]
    episodes = [(e.topic, e.start(start), e.end(start)) for e in scenario.episodes]
    png = plot_timelines(rates_from_rollups(rollups), settings.home / "negative_rate.png",
                         f"Negative share per minute — {len(tweets)} replayed tweets, "
                         f"{'models' if len(model.routes) > 1 else 'model'} "
                         f"{', '.join(r.model.version for r in model.routes)}",
                         alerts=fired, episodes=episodes)
    report = score(scenario.episodes, start, scenario.minutes,
                   [AlertRecord(t, f, r) for t, f, r in fired if t != "all"])
    summary: dict[str, object] = {
        "data": str(data),
        "model": model.version,
        "models_by_language": {r.model.version: sorted(r.languages) if r.languages is not None else "any"
                               for r in model.routes},
        "emotion_model": model.emotion_version,
        "providers": model.providers,
        "stream_hours": hours,
        "tweets_scored": totals.scored,
        "rows_inserted": totals.inserted,
        "dead_letters": totals.dead,
        "tweets_per_second": round(totals.scored / totals.seconds, 1) if totals.seconds else None,
        "topics": dict(Counter(t.topics[0] for t in tweets)),
        "injected_episodes": [{"topic": t, "start": s.isoformat(), "end": e.isoformat()} for t, s, e in episodes],
        "alerts": [{"topic": t, "fired_at": f.isoformat(), "resolved_at": r.isoformat() if r else None}
                   for t, f, r in fired],
        "episodes_detected": f"{report.detected}/{report.episodes}",
        "false_alerts": report.false_alerts,
        "model_accuracy_on_stream": round(_accuracy(store, truth), 4),
        "languages": _languages(store, {t.id: t.lang for t in tweets}, truth),
        "alert_explanations": explained,
        "database": url,
        "alerts_file": str(alerts_file),
        "plot": str(png),
    }
    # the summary is printed with the database URL's password masked (the returned one keeps it for --serve)
    print(json.dumps({**summary, "database": make_url(url).render_as_string(hide_password=True)}, indent=2))
    return summary


def _languages(store: ScoreStore, source_lang: dict[str, str | None],
               truth: dict[str, bool]) -> dict[str, dict[str, object]]:
    """Per source language of the replayed tweets: how many, which language they were stored with (the
    detector's verdict), how many were left unscored, and the served labels' accuracy against the truth."""
    from badbuzz.services.storage.tables import ScoredTweetRow

    with store.engine.connect() as conn:
        rows = conn.execute(select(ScoredTweetRow.tweet_id, ScoredTweetRow.lang, ScoredTweetRow.label)).all()
    tweets: Counter[str] = Counter()
    unscored: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    stored_as: dict[str, Counter[str]] = {}
    for tweet_id, lang, label in rows:
        src = source_lang.get(tweet_id) or "?"
        tweets[src] += 1
        stored_as.setdefault(src, Counter())[lang or "und"] += 1
        if label == "unscored":
            unscored[src] += 1
        elif tweet_id in truth and (label == "negative") == truth[tweet_id]:
            correct[src] += 1
    return {src: {"tweets": n, "stored_as": dict(stored_as[src].most_common(4)), "unscored": unscored[src],
                  "accuracy": round(correct[src] / max(1, n - unscored[src]), 4)} for src, n in tweets.items()}


def _accuracy(store: ScoreStore, truth: dict[str, bool]) -> float:
    from badbuzz.services.storage.tables import ScoredTweetRow

    with store.engine.connect() as conn:
        rows = conn.execute(select(ScoredTweetRow.tweet_id, ScoredTweetRow.label)).all()
    judged = [(truth[i], label == "negative") for i, label in rows if i in truth]
    return sum(a == b for a, b in judged) / max(1, len(judged))


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


def serve_demo(settings: Settings, database_url: str) -> None:
    """``badbuzz demo --serve``: keep the API and its live page up on the demo's database until Ctrl-C.

    Without configured API keys, a write key is made for this run only and printed inside the page's link,
    so a new user can open the page, see the demo's alerts on the timeline and acknowledge one."""
    from pydantic import SecretStr

    from badbuzz.services.api.auth import new_key
    from badbuzz.services.api.runner import run_api

    link = f"http://{settings.api_host}:{settings.api_port}/"
    if settings.api_keys is None or not settings.api_keys.get_secret_value():
        key, entry = new_key("demo", "write")
        settings = settings.model_copy(update={"api_keys": SecretStr(entry)})
        link += f"?key={key}"
    settings = settings.model_copy(update={"database_url": SecretStr(database_url), "kafka_bootstrap": None})
    print(f"[badbuzz] the live page: {link}  (API docs at /docs; Ctrl-C to stop)", flush=True)
    run_api(settings)


SENTIMENT140_URL = "https://cs.stanford.edu/people/alecmgo/trainingandtestdata.zip"


def register(sub: Subparsers) -> None:
    d = sub.add_parser("demo", help="the main job end to end in embedded mode (no servers needed)")
    d.add_argument("--data", type=Path, help="Sentiment140 CSV or folder (default BADBUZZ_DATA)")
    d.add_argument("--download", action="store_true", help="fetch the official Sentiment140 file if needed")
    d.add_argument("--hours", type=float, default=3.0, help="stream hours to replay (one episode per 3 hours)")
    d.add_argument("--train", action="store_true",
                   help="fine-tune a small binary model from scratch into HOME/model instead of the released one")
    d.add_argument("--train-steps", type=int, default=400, help="with --train: training steps")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--serve", action="store_true",
                   help="then keep the live page and the API up on the demo's data (BADBUZZ_API_HOST/PORT)")
    d.set_defaults(run=run_demo_command)


def run_demo_command(args: argparse.Namespace, settings: Settings) -> int:
    s = updated(settings, data=args.data)
    if s.data is None and args.download:
        s = updated(s, data=download_sentiment140(s.home / "data", SENTIMENT140_URL))
    summary = run_demo(s, hours=args.hours, train_steps=args.train_steps if args.train else 0, seed=args.seed)
    if args.serve:
        serve_demo(s, str(summary["database"]))
    return 0
