"""``badbuzz eval-alerts``: score alerts against ground truth, or simulate replays to measure the detector.

``--tiers`` measures the detector on simulated field-like weeks at four brand volumes and three baseline
negativities (docs/alerting.md, field_report.py); with ``--default-profile``, on the default simulator.

``--simulate`` replays the standard scenario (stream/simulation/scenario.py) over the Sentiment140 data for several
seeds, labels each tweet with the *model's* prediction (as the live system would; cached per model and
data file), runs our detector and the naive fixed-threshold rule on the same minute counts, and writes
the tables to ``docs/alerting-scenario.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from badbuzz.models.data import find_sentiment140, iter_sentiment140
from badbuzz.services.cli_args import Subparsers, updated
from badbuzz.services.settings import Settings
from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.simulation.evaluation import AlertRecord, EvalReport, evaluate_scenario, score
from badbuzz.stream.simulation.scenario import Episode, PoolTweet, generate, standard_scenario
from badbuzz.stream.simulation.simulation import LabelNoise
from badbuzz.stream.simulation.tiers import TIERS, TierReport, evaluate_tier, run_naive, run_ours, run_previous

ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)


def load_pool(data: Path) -> list[PoolTweet]:
    return [PoolTweet(r.id, r.text, r.label == "negative", "en") for r in iter_sentiment140(data)
            if r.label in {"negative", "positive"}]


def umsab_pool(folder: Path, lang: str) -> list[PoolTweet]:
    """One UMSAB language's labelled tweets (train split, negative and positive) as a replay pool: the
    other language of a bilingual stream."""
    from badbuzz.models.training.datasets import umsab

    return [PoolTweet(e.id, e.text, e.label == "negative", lang) for e in umsab(folder, "train")
            if e.label in {"negative", "positive"}]


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
        negative = model.sentiment.negative_label
        flags = np.zeros(len(texts), dtype=bool)
        chunk = 1024
        for i in tqdm(range(0, len(texts), chunk), desc="predict pool", unit="chunk"):
            flags[i : i + chunk] = [label == negative for label in model.predict(texts[i : i + chunk]).decided]
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
(`stream/simulation/scenario.py`): three topics (30, 15 and 8 tweets/min at 20%, 35% and 25% negative, with a daily
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


def served_label_noise(settings: Settings) -> tuple[LabelNoise, str]:
    """The served model's negative recall and false-positive rate on TweetEval's human 3-way labels (from
    its manifest), so simulated tweets are labelled as production would label them."""
    from badbuzz.models.serving.model_dir import load_manifest

    try:
        manifest = load_manifest(settings.resolved_model_dir)
        confusion = manifest.metrics["tests"]["tweeteval-sentiment"]["full"]["confusion"]
        neg = manifest.labels.index(manifest.negative_label)
    except Exception as exc:  # no released model or no such test: the product's documented defaults
        return LabelNoise(), f"defaults (no TweetEval confusion in the served model: {exc})"
    row = confusion[neg]
    others = [r for i, r in enumerate(confusion) if i != neg]
    tpr = row[neg] / sum(row)
    fpr = sum(r[neg] for r in others) / sum(sum(r) for r in others)
    return LabelNoise(tpr=round(tpr, 3), fpr=round(fpr, 3)), f"{manifest.version} on TweetEval validation"


def evaluate_field_tiers(settings: Settings, *, seeds: Sequence[int], weeks: float, output: Path) -> None:
    """docs/alerting.md: the tiers, cold starts and the model's part on the field profile (field_report.py)."""
    from badbuzz.services.tools.field_report import write_field_report

    noise, source = served_label_noise(settings)
    write_field_report(output, seeds=seeds, weeks=weeks, noise=noise, source=source,
                       config=settings.detector_config())
    print(f"wrote {output}")


def evaluate_tiers(settings: Settings, *, seeds: Sequence[int], weeks: float, output: Path | None,
                   tiers: Sequence[int] = TIERS) -> dict[int, dict[str, TierReport]]:
    """Ours vs the previous single-scale detector vs a naive threshold at each volume tier, on the default
    simulator (``--default-profile``: the tables issue 15 was measured on)."""
    noise, source = served_label_noise(settings)
    config = settings.detector_config()
    runners = {"ours": run_ours(config), "previous": run_previous(), "naive": run_naive()}
    results: dict[int, dict[str, TierReport]] = {}
    with tqdm(total=len(tiers) * len(seeds) * 2, desc="simulated histories", unit="history") as bar:
        for tier in tiers:
            results[tier] = evaluate_tier(tier, runners, seeds=seeds, weeks=weeks, noise=noise,
                                          progress=lambda: bar.update(1))
    for tier, reports in results.items():
        print(tier, json.dumps({k: r.summary() for k, r in reports.items()}))
    if output is not None:
        write_tier_report(output, results, seeds=seeds, weeks=weeks, noise=noise, source=source, config=config)
    return results


def write_tier_report(path: Path, results: dict[int, dict[str, TierReport]], *, seeds: Sequence[int], weeks: float,
                      noise: LabelNoise, source: str, config: DetectorConfig) -> None:
    rows = [("recall, target episodes", "recall_target", True), ("recall, all episodes", "recall_all", True),
            ("median time to detect, target episodes (min)", "ttd_median_min", False),
            ("false alerts per week of clean stream", "false_alerts_per_week", False),
            ("episodes alerted more than once", "double_alerts", False)]
    parts = []
    for tier, reports in results.items():
        s = {k: r.summary() for k, r in reports.items()}
        table = "\n".join(f"| {label} | " + " | ".join(_fmt(s[d][k], p) for d in ("ours", "previous", "naive")) + " |"
                          for label, k, p in rows)
        shapes = "\n".join(
            f"| {shape} | " + " | ".join(f"{reports[d].by_shape.get(shape, [0, 0])[0]}/{n}"
                                          for d in ("ours", "previous", "naive")) + " |"
            for shape, (_, n) in sorted(reports["ours"].by_shape.items()))
        ours = reports["ours"]
        parts.append(f"""### {tier:,} tweets per hour per topic

{ours.targets} target episodes of {ours.episodes}; {ours.clean_weeks:.1f} weeks of clean stream.

| measure | ours | previous detector | naive (hour share > 45 %) |
| --- | ---: | ---: | ---: |
{table}

| target episodes detected, by shape | ours | previous | naive |
| --- | ---: | ---: | ---: |
{shapes}
""")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""# Alerting: measured at four brand volumes

Command: `badbuzz eval-alerts --tiers --seeds {' '.join(map(str, seeds))} --weeks {weeks:g}` (run
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC). For each tier and seed, one simulated history with episodes and one
without (`stream/simulation/simulation.py`): {weeks:g} weeks of minute counts, the first week a clean warm-up,
a daily rhythm (nights at a third of the afternoon peak), quieter weekends, ±10 % random levels per day and
per hour, a negative share of 25 % (±10 % over the day). Tweets are labelled as the served model labels them:
negative recall {noise.tpr:.0%}, false-negative-label rate {noise.fpr:.0%} ({source}).

Episodes (after the warm-up, one shape after another): **share** ×1.5–2 for 1, 3 or 6 h; **volume** three times
the negative tweets with the share up 10 points, for 1–3 h; **buildup** the share rising to ×2 over 6 h;
**night** share ×2 and volume ×2 for 2 h between midnight and 05:00. A *target* episode is one an oracle that
knew its start and end would see at 5 standard deviations; an alert detects an episode when it fires between
its start and one hour after its end. Every other alert is false; false alerts are counted on the clean
histories and outside episodes.

Three detectors see the same minute counts: **ours** (`stream/detection/detector.py`: windows of
{', '.join(str(s) for s in config.scales)} minutes, share and volume signals, α = {config.alpha:g} per topic and minute
or {config.weekly_budget:g} false alarms a week by window length, shared across tests), the **previous**
single-scale detector (2 and 5 minute windows, share only) and a **naive** rule
(alert while the last hour's negative share is above 45 %).

Targets (issue 15): recall ≥ 90 % of target episodes at every tier; median time to detect ≤ 5 min at
≥ 2,000/h and ≤ 60 min at ≤ 200/h; ≤ 1 false alert per topic per week; no double alerts.

""" + "\n".join(parts))


def register(sub: Subparsers) -> None:
    a = sub.add_parser("eval-alerts", help="score alerts against replay ground truth, or simulate replays")
    a.add_argument("--simulate", action="store_true", help="replay the standard scenario offline, ours vs naive")
    a.add_argument("--tiers", action="store_true",
                   help="simulated weeks at 20, 200, 2,000 and 20,000 tweets/h: ours vs previous vs naive")
    a.add_argument("--weeks", type=float, default=3.0, help="with --tiers: weeks per simulated history")
    a.add_argument("--default-profile", action="store_true",
                   help="with --tiers: the default simulator (issue 15's tables) instead of the field profile")
    a.add_argument("--data", type=Path)
    a.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    a.add_argument("--days", type=float, default=1.0)
    a.add_argument("--naive-threshold", type=float, default=0.5)
    a.add_argument("--output", type=Path, help="report to write (--tiers: docs/alerting.md, --simulate: "
                                                "docs/alerting-scenario.md)")
    a.add_argument("--truth", type=Path, help="ground truth written by `replay --scenario --truth`")
    a.add_argument("--alerts", type=Path, help="alert events as JSON lines (BADBUZZ_ALERTS_FILE)")
    a.set_defaults(run=run_eval_alerts)


def run_eval_alerts(args: argparse.Namespace, settings: Settings) -> int:
    if args.tiers:
        if args.default_profile:
            evaluate_tiers(settings, seeds=args.seeds, weeks=args.weeks,
                           output=args.output or Path("docs/alerting-default-profile.md"))
        else:
            evaluate_field_tiers(settings, seeds=args.seeds, weeks=args.weeks,
                                 output=args.output or Path("docs/alerting.md"))
        return 0
    if args.simulate:
        simulate(updated(settings, data=args.data), seeds=args.seeds, days=args.days,
                 naive_threshold=args.naive_threshold, config=settings.detector_config(),
                 output=args.output or Path("docs/alerting-scenario.md"))
        return 0
    if not (args.truth and args.alerts):
        raise SystemExit("eval-alerts needs --simulate, or --truth FILE and --alerts FILE")
    score_run(args.truth, args.alerts)
    return 0
