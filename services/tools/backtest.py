"""``badbuzz backtest FILE``: run any tweet history through the live alerter's own code, offline.

The history is read (:mod:`badbuzz.stream.sources.history`), labelled (the file's own labels with
``--label-column``, otherwise the served model), stored with the scorer's :class:`ScoreStore` in a
throw-away SQLite database (same tables, same per-minute rollups) and advanced to its end by the live
:class:`AlertService`: the same aggregation, detector, explanations and alert ids. What a backtest
reports is therefore what production would have raised on those tweets. Alert events are written as JSON
lines and each topic gets a PNG timeline (negative share against its baseline, negative volume against
the expected count, alerts shaded).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from tqdm.auto import tqdm

from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.cli_args import Subparsers, columns, history_columns
from badbuzz.services.settings import Settings
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.stream.contracts import RawTweet, ScoredTweet
from badbuzz.stream.detection.aggregation import MINUTE, minute_of
from badbuzz.stream.detection.detector import DetectorConfig, Evaluation, TopicState
from badbuzz.stream.detection.event import AlertEvent
from badbuzz.stream.scoring.topics import TopicMatcher
from badbuzz.stream.sources.history import HistoryRow

CHUNK = 2048


@dataclass
class BacktestResult:
    alerts: list[dict[str, Any]]
    events: list[AlertEvent]
    evaluations: dict[str, list[Evaluation]] = field(default_factory=dict)
    tweets: int = 0
    seconds: float = 0.0
    states: dict[str, TopicState] = field(default_factory=dict)  # each topic's detector at the end of the file


def labelled(rows: Iterable[HistoryRow], labels: Sequence[str], model: Any | None, version: str,
             matcher: TopicMatcher | None = None) -> Iterator[ScoredTweet]:
    """ScoredTweets from rows: the row's own label (one-hot probabilities) or the model's verdict; with
    ``matcher``, topics assigned as the scorer assigns them (``all``, the row's own, the topics file's)."""
    now = datetime.now(UTC)
    chunk: list[HistoryRow] = []

    def raw(r: HistoryRow) -> RawTweet:
        if matcher is None:
            topics = r.topics
        elif matcher.rules:  # a topics file: the file's topics that it defines, and what its rules match
            topics = matcher.assign(r.text, r.topics)
        else:  # no topics file: the history's own topic column defines the topics (an offline study)
            topics = tuple(dict.fromkeys(("all", *r.topics)))
        return RawTweet(r.id, r.text, r.created_at, topics=topics)

    def flush() -> Iterator[ScoredTweet]:
        if model is None:
            for r in chunk:
                if r.label is None or r.label not in labels:
                    raise ValueError(f"tweet {r.id}: label {r.label!r} is not one of the model's labels {list(labels)}"
                                     " (map the column's values to these names first)")
                yield ScoredTweet(raw(r), r.label,
                                  {name: float(name == r.label) for name in labels}, version, now)
            return
        pred = model.predict([r.text for r in chunk])
        decided = pred.decided_labels()
        emotions = pred.emotions or [None] * len(chunk)
        for i, r in enumerate(chunk):
            probs = {name: float(p) for name, p in zip(pred.labels, pred.probabilities[i], strict=True)}
            yield ScoredTweet(raw(r), decided[i], probs, version, now,
                              emotions=emotions[i], emotion_model=pred.emotion_model)

    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


def backtest(rows: Iterable[HistoryRow], *, config: DetectorConfig, matcher: TopicMatcher,
             labels: Sequence[str], model: Any | None = None, version: str = "labels",
             database_url: str | None = None, progress: bool = True) -> BacktestResult:
    """Store the history and run the alert service over all of it; returns alerts and per-minute evaluations."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="badbuzz-backtest-") as tmp:
        engine = make_engine(database_url or f"sqlite:///{Path(tmp) / 'backtest.db'}")
        store = ScoreStore(engine)
        newest: datetime | None = None
        count = 0
        batch: list[ScoredTweet] = []
        bar = tqdm(desc="backtest: store", unit="tweet", disable=not progress)
        for scored in labelled(rows, labels, model, version, matcher):
            batch.append(scored)
            created = scored.tweet.created_at
            newest = created if newest is None else max(newest, created)
            if len(batch) >= CHUNK:
                count += _write(store, batch)
                bar.update(len(batch))
                batch = []
        if batch:
            count += _write(store, batch)
            bar.update(len(batch))
        bar.close()
        evaluations: dict[str, list[Evaluation]] = {}
        service = AlertService(AlertStore(engine), config, allowed_lateness=timedelta(0),
                               metrics=AlertMetrics(CollectorRegistry()),
                               on_evaluation=lambda ev: evaluations.setdefault(ev.topic, []).append(ev))
        events = service.run_until(minute_of(newest) + MINUTE) if newest is not None else []
        engine.dispose()
    states = {topic: det.state for topic, det in service.detectors.items()}
    return BacktestResult(merge_events(events), events, evaluations, count, time.perf_counter() - started, states)


def _write(store: ScoreStore, batch: list[ScoredTweet]) -> int:
    result = store.write(batch)
    if result.rejected:
        record, reason = result.rejected[0]
        raise ValueError(f"{len(result.rejected)} tweets refused by the store, e.g. {record.tweet.id}: {reason}")
    return result.inserted


def merge_events(events: Sequence[AlertEvent]) -> list[dict[str, Any]]:
    """One record per alert (its firing event, completed by its resolution), in firing order."""
    out: dict[str, dict[str, Any]] = {}
    for ev in events:
        if ev.state == "firing":
            out[ev.alert_id] = {
                "alert_id": ev.alert_id, "topic": ev.topic, "fired_at": ev.fired_at.isoformat(), "resolved_at": None,
                "signal": ev.signal, "scale": ev.scale_minutes, "rate": round(ev.negative_rate, 4),
                "baseline": round(ev.baseline_rate, 4), "volume": ev.volume,
                "negatives": round(ev.negative_rate * ev.volume), "expected_negatives": ev.expected_negatives,
                "p_value": ev.p_value, "top_terms": [t for t, _ in ev.top_terms], "summary": ev.summary(),
            }
        elif ev.alert_id in out and ev.resolved_at is not None:
            out[ev.alert_id]["resolved_at"] = ev.resolved_at.isoformat()
    return sorted(out.values(), key=lambda a: (a["fired_at"], a["topic"]))


def write_alerts(path: Path, alerts: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for a in alerts:
            fh.write(json.dumps(a, ensure_ascii=False, sort_keys=True) + "\n")


def plot_topic(path: Path, topic: str, evaluations: Sequence[Evaluation], alerts: Sequence[dict[str, Any]]) -> Path:
    """Hourly negative share with its baseline, hourly negatives with the expected count, alerts shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours: dict[datetime, list[float]] = {}
    for ev in evaluations:
        h = ev.minute.replace(minute=0)
        cell = hours.setdefault(h, [0, 0, 0.0, 0.0, 0])  # n, k, expected, baseline sum, baseline minutes
        cell[0] += ev.n
        cell[1] += ev.n_negative
        cell[2] += ev.expected_negatives or 0.0
        if ev.baseline is not None:
            cell[3] += ev.baseline
            cell[4] += 1
    xs = sorted(hours)
    share = [hours[h][1] / hours[h][0] if hours[h][0] else float("nan") for h in xs]
    base = [hours[h][3] / hours[h][4] if hours[h][4] else float("nan") for h in xs]
    band = [1.96 * (b * (1 - b) / hours[h][0]) ** 0.5 if hours[h][0] and b == b else float("nan")
            for h, b in zip(xs, base, strict=True)]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    ax1.plot(xs, share, drawstyle="steps-post", color="tab:red", lw=1, label="negative share (hour)")
    ax1.plot(xs, base, color="black", lw=1, label="usual share")
    ax1.fill_between(xs, [b - w for b, w in zip(base, band, strict=True)],
                     [b + w for b, w in zip(base, band, strict=True)], color="grey", alpha=0.25, step="post",
                     label="95 % band for the hour's volume")
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("negative share")
    ax2.plot(xs, [hours[h][1] for h in xs], drawstyle="steps-post", color="tab:red", lw=1,
             label="negative tweets (hour)")
    ax2.plot(xs, [hours[h][2] for h in xs], drawstyle="steps-post", color="black", lw=1, label="expected")
    ax2.set_ylabel("negatives per hour")
    end = xs[-1] + timedelta(hours=1) if xs else None
    for ax in (ax1, ax2):
        for a in alerts:
            if a["topic"] == topic:
                fired = datetime.fromisoformat(a["fired_at"])
                resolved = datetime.fromisoformat(a["resolved_at"]) if a["resolved_at"] else end or fired
                ax.axvspan(fired, resolved, color="tab:red", alpha=0.15,
                           label=f"alert ({a['signal']}, {a['scale']} min)")
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), loc="upper left", fontsize=8)
    fig.suptitle(f"Backtest: {topic}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def safe_name(topic: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in topic)[:80] or "topic"


def seed_baselines(settings: Settings, states: dict[str, TopicState], source: str, *, replace: bool = False
                   ) -> dict[str, str]:
    """Write each topic's learned baselines into the deployment's database, ready for the live alerter
    (``TopicState.seeded``: it starts at the topic's first live minute). A topic the deployment already has
    a state for keeps it unless ``replace``. Returns what was done per topic. The alerter reads states when
    it starts or takes over: seed before starting it, or restart it after."""
    from badbuzz.services.alerting.store import AlertStore

    engine = make_engine(settings.resolved_database_url, wait_s=settings.database_wait_s)
    try:
        store = AlertStore(engine)
        existing = store.load_states()
        done: dict[str, str] = {}
        now = datetime.now(UTC)
        for topic, state in sorted(states.items()):
            if topic in existing and not replace:
                done[topic] = "kept the deployment's own baselines (--replace-baselines to overwrite)"
                continue
            store.save_state(topic, state.seeded(source), now)
            done[topic] = f"seeded: {state.history_note()}"
        return done
    finally:
        engine.dispose()


def run_backtest_command(settings: Settings, path: Path, *, columns: Any, fmt: Any, alerts_out: Path | None,
                         plots: Path | None, topics: str = "", seed: bool = False,
                         replace: bool = False) -> BacktestResult:
    """The CLI: read, label (file or model), backtest, write alerts and plots, print a summary."""
    from badbuzz.stream.sources.history import ReadReport, read_history

    report = ReadReport()
    rows = sorted(read_history(path, columns, fmt, report), key=lambda r: r.created_at)
    model = None
    if columns.label is None:
        from badbuzz.services.scorer import load_model

        model = load_model(settings, warm_up=False)
        labels, version = model.labels, model.version
    else:
        labels, version = ["negative", "neutral", "positive"], f"labels:{columns.label}"
    matcher = settings.topic_matcher()
    result = backtest(rows, config=settings.detector_config(), matcher=matcher, labels=labels, model=model,
                      version=version)
    wanted = {t.strip() for t in topics.split(",") if t.strip()}
    if wanted:
        result.alerts = [a for a in result.alerts if a["topic"] in wanted]
    if alerts_out is not None:
        write_alerts(alerts_out, result.alerts)
    if plots is not None:
        for topic, evs in sorted(result.evaluations.items()):
            if not wanted or topic in wanted:
                plot_topic(plots / f"{safe_name(topic)}.png", topic, evs, result.alerts)
    print(f"backtest: {report.describe()}; {result.tweets:,} tweets, {len(result.evaluations)} topics, "
          f"{len(result.alerts)} alerts in {result.seconds:.1f} s")
    for a in result.alerts:
        print(f"  {a['fired_at']}  {a['topic']}: {a['signal']} over {a['scale']} min, {a['rate']:.0%} negative "
              f"(usual {a['baseline']:.0%}), {a['volume']} tweets" + (f", resolved {a['resolved_at']}"
                                                                        if a["resolved_at"] else ""))
    if seed:
        for topic, what in seed_baselines(settings, result.states, path.name, replace=replace).items():
            print(f"  baselines of {topic}: {what}")
    return result


def register(sub: Subparsers) -> None:
    b = sub.add_parser("backtest", help="run a tweet history through the live alerter's code, offline")
    b.add_argument("file", type=Path, help="CSV with a header, JSON lines, or a Sentiment140-format file")
    history_columns(b, labels=True)
    b.add_argument("--alerts", type=Path, help="write the alerts here as JSON lines")
    b.add_argument("--plots", type=Path, help="write one PNG timeline per topic into this folder")
    b.add_argument("--topics", default="", help="comma-separated topics to report (default: all)")
    b.add_argument("--seed-baselines", action="store_true",
                   help="then write each topic's learned baselines into the deployment's database, so the live "
                        "alerter starts with them instead of from nothing (a new deployment, a new topic)")
    b.add_argument("--replace-baselines", action="store_true",
                   help="with --seed-baselines: also overwrite topics the deployment already has baselines for")
    b.set_defaults(run=_run_backtest)


def _run_backtest(args: argparse.Namespace, settings: Settings) -> int:
    run_backtest_command(settings, args.file, columns=columns(args), fmt=args.format, alerts_out=args.alerts,
                         plots=args.plots, topics=args.topics, seed=args.seed_baselines,
                         replace=args.replace_baselines)
    return 0
