"""``badbuzz backtest``: any history through the live alerter's code; the same alerts as the live service."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.services.tools.backtest import backtest, labelled
from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.scoring.topics import TopicMatcher
from badbuzz.stream.sources.history import Columns, HistoryRow, ReadReport, parse_time, read_history
from tests.store_queries import all_alerts

LABELS = ["negative", "neutral", "positive"]


def history(start: datetime, hours: int, per_hour: float, episode_hour: int, seed: int = 3) -> list[HistoryRow]:
    """Two topics; ``delays`` gets a two-hour pile-on (three times the complaints) at ``episode_hour``."""
    rng = np.random.default_rng(seed)
    rows: list[HistoryRow] = []
    for h in range(hours):
        for topic, rate in (("delays", per_hour), ("baggage", per_hour / 2)):
            pile_on = topic == "delays" and episode_hour <= h < episode_hour + 2
            n = rng.poisson(rate * (2.2 if pile_on else 1.0))
            share = 0.55 if pile_on else 0.25
            for i in range(n):
                ts = start + timedelta(hours=h, seconds=float(rng.uniform(0, 3600)))
                label = "negative" if rng.random() < share else ("neutral" if rng.random() < 0.4 else "positive")
                rows.append(HistoryRow(f"{topic}-{h}-{i}", f"{topic} tweet {h} {i} {label}", ts, (topic,), label))
    return sorted(rows, key=lambda r: r.created_at)


def test_history_reader_takes_csv_jsonl_and_sentiment140_and_counts_bad_rows(tmp_path: Path) -> None:
    jl = tmp_path / "h.jsonl"
    jl.write_text("\n".join([json.dumps({"id": "1", "text": "late again", "ts": "2026-01-05T10:00:00Z", "t": ["a"]}),
                             json.dumps({"id": "2", "text": "", "ts": "2026-01-05T10:01:00Z"}),
                             "not json", json.dumps({"id": "3", "text": "ok", "ts": 1767607320})]) + "\n")
    report = ReadReport()
    rows = list(read_history(jl, Columns(time="ts", topic="t"), report=report))
    assert [r.id for r in rows] == ["1", "3"] and rows[0].topics == ("a",)
    assert report.rows == 4 and sum(report.skipped.values()) == 2
    s140 = tmp_path / "s140.csv"
    s140.write_text('"0","9","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","u","my flight is late"\n')
    (row,) = read_history(s140, Columns(label="polarity"))
    assert row.label == "negative" and row.created_at == datetime(2009, 4, 7, 5, 19, 45, tzinfo=UTC)
    assert parse_time("2026-01-05 10:00") == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert parse_time("yesterday") is None


def test_a_file_of_mostly_bad_rows_is_refused_with_the_reasons(tmp_path: Path) -> None:
    from badbuzz.models.data import DataFormatError

    bad = tmp_path / "bad.csv"
    bad.write_text("text,created_at\n" + "".join(f"t{i},not a date\n" for i in range(150)))
    with pytest.raises(DataFormatError, match="no usable time in column 'created_at'"):
        list(read_history(bad, Columns()))


def test_backtest_finds_the_pile_on_and_names_its_signal_and_scale() -> None:
    rows = history(datetime(2026, 1, 5, tzinfo=UTC), hours=48, per_hour=60, episode_hour=34)
    result = backtest(rows, config=DetectorConfig(), matcher=TopicMatcher([]), labels=LABELS, progress=False)
    fired = [a for a in result.alerts if a["topic"] == "delays"]
    assert len(fired) == 1, result.alerts
    start = datetime(2026, 1, 6, 10, tzinfo=UTC)
    assert start <= datetime.fromisoformat(fired[0]["fired_at"]) <= start + timedelta(hours=2)
    assert fired[0]["signal"] in {"share", "volume"} and fired[0]["scale"] >= 10 and fired[0]["resolved_at"]
    assert not [a for a in result.alerts if a["topic"] == "baggage"]
    assert result.tweets == len(rows) and set(result.evaluations) >= {"all", "delays", "baggage"}


def test_the_live_alerter_and_the_backtest_raise_identical_alerts(tmp_path: Path) -> None:
    """The live service polls while tweets arrive ten minutes at a time; the backtest sees the file at once."""
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    start = end - timedelta(hours=36)
    rows = [r for r in history(start, hours=36, per_hour=60, episode_hour=28) if r.created_at < end]
    config = DetectorConfig()
    engine = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    store = ScoreStore(engine)
    live = AlertService(AlertStore(engine), config, allowed_lateness=timedelta(0),
                        metrics=AlertMetrics(CollectorRegistry()), idle_after=timedelta(days=1))
    # the deployment's topics, as the scorer assigns them: "all" plus the producer's topics it defines
    matcher = TopicMatcher.from_config({"topics": [{"name": "delays", "keywords": ["delay"]},
                                                   {"name": "baggage", "keywords": ["luggage"]}]})
    scored = [replace(s, tweet=replace(s.tweet, topics=matcher.assign(s.tweet.text, s.tweet.topics)))
              for s in labelled(rows, LABELS, None, "labels")]
    events = []
    step, i = timedelta(minutes=10), 0
    clock = start + step
    while i < len(scored):
        batch = []
        while i < len(scored) and scored[i].tweet.created_at < clock:
            batch.append(scored[i])
            i += 1
        if batch:
            store.write(batch)
            events += live.run_once()
        clock += step
    offline = backtest(rows, config=config, matcher=matcher, labels=LABELS, progress=False)
    # the live watermark has closed every minute before the newest tweet's; the backtest also that one
    live_closed = rows[-1].created_at.replace(second=0, microsecond=0)

    # p-values compared to 1e-9: the windows' expected counts are float sums, kept running minute by minute in
    # one path and recomputed from the saved minutes after each restart in the other, so they agree to about
    # 1e-15 and a p-value near 0.5 to about 1e-12 (the decisions they lead to are the same)
    def key(evs: list) -> list:  # type: ignore[type-arg]
        return sorted((e.alert_id, e.state, e.signal, e.scale_minutes, e.fired_at, e.resolved_at, e.volume,
                       tuple(t for t, _ in e.top_terms), e.p_value) for e in evs if e.window_end <= live_closed)

    assert any(e.state == "firing" and e.topic == "delays" for e in events)
    live_keys, offline_keys = key(events), key(offline.events)
    assert [k[:-1] for k in live_keys] == [k[:-1] for k in offline_keys]
    assert [k[-1] for k in live_keys] == pytest.approx([k[-1] for k in offline_keys], rel=1e-9, abs=1e-300)


def test_the_backtest_command_writes_alerts_and_a_timeline_per_topic(tmp_path: Path) -> None:
    rows = history(datetime(2026, 1, 5, tzinfo=UTC), hours=48, per_hour=60, episode_hour=34)
    path = tmp_path / "history.csv"
    with path.open("w") as fh:
        fh.write("id,text,time,topic,sentiment\n")
        for r in rows:
            fh.write(f"{r.id},{r.text},{r.created_at.isoformat()},{r.topics[0]},{r.label}\n")
    out = subprocess.run([sys.executable, "-m", "badbuzz.services.cli", "backtest", str(path), "--time-column", "time",
                          "--topic-column", "topic", "--label-column", "sentiment", "--alerts",
                          str(tmp_path / "alerts.jsonl"), "--plots", str(tmp_path / "plots")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert "delays" in {a["topic"] for a in alerts} and "baggage" not in {a["topic"] for a in alerts}
    assert set(alerts[0]) >= {"topic", "fired_at", "resolved_at", "signal", "scale", "rate", "baseline", "volume"}
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["all.png", "baggage.png", "delays.png"]
    assert f"{len(alerts)} alerts in" in out.stdout


def test_seeded_baselines_let_a_new_deployment_alert_from_its_first_hours(tmp_path: Path) -> None:
    """``backtest FILE --seed-baselines`` writes each topic's learned baselines into the deployment's database.
    The live alerter then starts there, at the topic's first live minute a month later, and pages a pile-on in
    its first hours that says which history its baseline stands on. A second seeding keeps what the
    deployment has unless told to replace it."""
    seeded_from = datetime(2026, 1, 5, tzinfo=UTC)
    rows = history(seeded_from, hours=72, per_hour=60, episode_hour=200)  # three calm days
    path = tmp_path / "history.csv"
    with path.open("w") as fh:
        fh.write("id,text,time,topic,sentiment\n")
        for r in rows:
            fh.write(f"{r.id},{r.text},{r.created_at.isoformat()},{r.topics[0]},{r.label}\n")
    url = f"sqlite:///{tmp_path / 'deployment.db'}"
    env = {**__import__("os").environ, "BADBUZZ_DATABASE_URL": url, "BADBUZZ_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "badbuzz.services.cli", "backtest", str(path), "--time-column", "time",
           "--topic-column", "topic", "--label-column", "sentiment", "--seed-baselines"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "baselines of delays: seeded" in out.stdout
    engine = make_engine(url)
    states = AlertStore(engine).load_states()
    assert {"all", "delays", "baggage"} <= set(states)
    assert states["delays"].seeded_from == "history.csv" and states["delays"].last_minute is None
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert "baselines of delays: kept the deployment's own" in again.stdout

    # live, a month later: two calm hours then a pile-on on delays
    live_start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    live_rows = [r for r in history(live_start, hours=4, per_hour=60, episode_hour=2, seed=9)
                 if r.created_at < live_start + timedelta(hours=4) - timedelta(minutes=2)]
    ScoreStore(engine).write(list(labelled(live_rows, LABELS, None, "labels")))
    service = AlertService(AlertStore(engine), DetectorConfig(), allowed_lateness=timedelta(0),
                           metrics=AlertMetrics(CollectorRegistry()), idle_after=timedelta(days=1))
    events = service.run_until(live_rows[-1].created_at.replace(second=0, microsecond=0))
    fired = [e for e in events if e.state == "firing" and e.topic == "delays"]
    assert fired, [e.summary() for e in events]
    assert fired[0].fired_at >= live_start + timedelta(hours=2)
    assert "seeded from history.csv" in fired[0].baseline_note and fired[0].history_minutes
    assert fired[0].history_minutes > 72 * 60  # the seeded days count, the gap does not
    assert fired[0].severity in {"critical", "high", "moderate"} and fired[0].severity in fired[0].summary()
    stored = {r.id: r for r in all_alerts(engine)}[fired[0].alert_id]
    assert stored.severity == fired[0].severity and stored.baseline_note == fired[0].baseline_note
