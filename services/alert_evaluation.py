"""``badbuzz eval-alerts``: score alerts against ground truth, or simulate replays to measure the detector.

``--simulate`` replays the standard scenario (stream/scenario.py) over the Sentiment140 data for several
seeds, labels each tweet with the *model's* prediction (as the live system would; cached per model and
data file), runs our detector and the naive fixed-threshold rule on the same minute counts, and writes
the tables to ``docs/alerting.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from badbuzz.models.data import find_sentiment140, iter_sentiment140
from badbuzz.services.settings import Settings
from badbuzz.stream.alert_eval import AlertRecord, EvalReport, evaluate_scenario, score
from badbuzz.stream.detection import DetectorConfig
from badbuzz.stream.scenario import Episode, PoolTweet, generate, standard_scenario

ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)


def load_pool(data: Path) -> list[PoolTweet]:
    return [PoolTweet(r.id, r.text, r.label == "negative") for r in iter_sentiment140(data)
            if r.label in {"negative", "positive"}]


def predicted_negatives(settings: Settings, pool: Sequence[PoolTweet], data: Path) -> dict[str, bool]:
    """Model verdict per pool tweet, cached under HOME/cache keyed by model version and data file."""
    from badbuzz.services.scorer import load_model

    model = load_model(settings.model_copy(update={"emotions": "off"}), warm_up=False)  # sentiment is enough
    ident = f"{model.version}|{model.weights}|{data.resolve()}|{data.stat().st_size}"
    key = hashlib.sha1(ident.encode()).hexdigest()[:16]
    cache = settings.home / "cache" / f"negative-{key}.npy"
    if cache.is_file():
        flags = np.load(cache)
    else:
        texts = [t.text for t in pool]
        neg = model.labels.index(model.sentiment.negative_label)
        flags = np.zeros(len(texts), dtype=bool)
        chunk = 1024
        for i in tqdm(range(0, len(texts), chunk), desc="predict pool", unit="chunk"):
            flags[i : i + chunk] = model.predict(texts[i : i + chunk]).decisions() == neg
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, flags)
    return {t.id: bool(f) for t, f in zip(pool, flags, strict=True)}


def simulate(settings: Settings, *, seeds: Sequence[int], days: float, naive_threshold: float,
             config: DetectorConfig, output: Path | None) -> tuple[EvalReport, EvalReport]:
    if settings.data is None:
        raise SystemExit("pass --data or set BADBUZZ_DATA")
    data = find_sentiment140(settings.data)
    pool = load_pool(data)
    verdict = predicted_negatives(settings, pool, data)
    ours_all, naive_all = EvalReport(), EvalReport()
    for seed in tqdm(seeds, desc="scenarios", unit="seed"):
        scenario = standard_scenario(ORIGIN, seed=seed, days=days)
        tweets = list(generate(scenario, pool))
        ours, naive = evaluate_scenario(scenario, tweets, lambda t: verdict[t.id.split("-", 2)[2]], config,
                                        naive_threshold)
        ours_all.merge(ours)
        naive_all.merge(naive)
    if output is not None:
        write_report(output, ours_all, naive_all, seeds=seeds, days=days, naive_threshold=naive_threshold,
                     config=config, data=data)
    print(json.dumps({"ours": ours_all.summary(), "naive": naive_all.summary()}, indent=2))
    return ours_all, naive_all


def score_run(truth_path: Path, alerts_path: Path) -> EvalReport:
    """Score alerts recorded by a real run (JSON lines of alert events) against a replay's ground truth."""
    truth = json.loads(truth_path.read_text())
    episodes = [Episode(e["topic"], e["start_minute"], e["minutes"], e["multiplier"], e["per_minute"],
                        e.get("theme")) for e in truth["episodes"]]
    alerts: list[AlertRecord] = []
    for line in alerts_path.read_text().splitlines():
        ev = json.loads(line)
        if ev.get("state") == "resolved":
            alerts = [AlertRecord(a.topic, a.fired_at, datetime.fromisoformat(ev["resolved_at"]))
                      if a.topic == ev["topic"] and a.resolved_at is None else a for a in alerts]
        elif ev.get("state") == "firing" and ev.get("topic") != "all":
            alerts.append(AlertRecord(ev["topic"], datetime.fromisoformat(ev["fired_at"])))
    report = score(episodes, datetime.fromisoformat(truth["origin"]), int(truth["minutes"]), alerts)
    print(json.dumps(report.summary(), indent=2))
    return report


def _fmt(v: float | int | None, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v:.1%}" if pct else (f"{v:.2f}" if isinstance(v, float) else str(v))


def write_report(path: Path, ours: EvalReport, naive: EvalReport, *, seeds: Sequence[int], days: float,
                 naive_threshold: float, config: DetectorConfig, data: Path) -> None:
    rows = [("recall, target episodes (≥2×, ≥10 min, ≥30/min)", "recall_target", True),
            ("recall, all episodes", "recall_all", True),
            ("median time to detect, target episodes (min)", "target_ttd_median_min", False),
            ("median time to detect, all detected (min)", "ttd_median_min", False),
            ("90th percentile time to detect (min)", "ttd_p90_min", False),
            ("false alerts per simulated day of clean stream", "false_alerts_per_day", False),
            ("episodes alerted more than once", "episodes_alerted_twice", False),
            ("flaps (re-fire within 30 min of resolving)", "flaps", False)]
    o, n = ours.summary(), naive.summary()
    table = "\n".join(f"| {label} | {_fmt(o[k], p)} | {_fmt(n[k], p)} |" for label, k, p in rows)
    sizes = "\n".join(f"| {k} | {d}/{t} | {naive.by_size.get(k, [0, 0])[0]}/{t} |"
                      for k, (d, t) in sorted(ours.by_size.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""# Alerting: evaluation on replays

Command: `badbuzz eval-alerts --simulate --data DATA --seeds {' '.join(map(str, seeds))} --days {days:g}`
(run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on `{data.name}`). Each seed replays the standard scenario
(`stream/scenario.py`): three topics (30, 15 and 8 tweets/min at 20%, 35% and 25% negative, with a daily
volume curve), {ours.episodes // max(1, len(seeds))} injected episodes per seed built from real negative tweets.
Tweets are labelled by the served model's predictions, as in production. {ours.target_episodes} target
episodes, {ours.episodes} episodes in all, {ours.clean_days:.1f} simulated days of clean stream.

| measure | ours | naive (minute share > {naive_threshold:.0%}) |
| --- | ---: | ---: |
{table}

Detector settings: {config}.

## Recall by episode size

| episode (multiplier, topic volume, duration) | ours | naive |
| --- | ---: | ---: |
{sizes}
""")
