from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from badbuzz.stream.detection.explain import terms, top_terms
from badbuzz.stream.simulation.evaluation import AlertRecord, is_target, score
from badbuzz.stream.simulation.scenario import Episode, PoolTweet, Scenario, TopicSpec, generate, volume_factor

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def test_terms_skip_stopwords_mentions_and_fold_accents() -> None:
    assert terms("@AirParadis the RETARD était énorme http://x") == ["retard", "enorme"]  # "était" is a French stopword


def test_top_terms_surface_what_is_new_not_what_is_common() -> None:
    window = ["lost luggage again", "luggage lost at CDG", "flight late, luggage lost", "my flight was fine"] * 10
    baseline = ["flight was fine", "great flight", "flight on time", "lovely crew on the flight"] * 50
    out = [t for t, _ in top_terms(window, baseline)]
    assert set(out[:2]) == {"luggage", "lost"} and "flight" not in out
    assert top_terms(window[:4], baseline[:4]) == []  # four tweets prove nothing: no term is significant


POOL = [PoolTweet(f"n{i}", "bad", True) for i in range(50)] + [PoolTweet(f"p{i}", "good", False) for i in range(50)]


def test_scenario_shapes_topics_and_episodes() -> None:
    sc = Scenario(T0, 240, (TopicSpec("a", 30, 0.2),), (Episode("a", 120, 20, 3.0, 60),), daily_amplitude=0.0)
    tweets = list(generate(sc, POOL))
    before = [t for t in tweets if t.episode is None]
    during = [t for t in tweets if t.episode == 0]
    assert 0.15 < sum(t.negative for t in before) / len(before) < 0.25
    assert 0.5 < sum(t.negative for t in during) / len(during) < 0.7
    assert 50 < len(during) / 20 < 70  # episode volume: 60 tweets/min
    assert len({t.id for t in tweets}) == len(tweets) and tweets == sorted(tweets, key=lambda t: t.created_at)
    assert Counter(t.topics for t in tweets) == {("a",): len(tweets)}
    assert volume_factor(16 * 60, 0.5) > volume_factor(4 * 60, 0.5)


def test_scoring_counts_detections_false_alerts_and_doubles() -> None:
    ep = Episode("a", 100, 10, 2.0, 30)
    alerts = [AlertRecord("a", T0.replace(hour=1, minute=42)), AlertRecord("a", T0.replace(hour=1, minute=50)),
              AlertRecord("b", T0.replace(hour=5)), AlertRecord("a", T0.replace(hour=10))]
    r = score([ep], T0, 1440, alerts)
    assert is_target(ep) and r.target_detected == 1 and r.ttd_minutes == [2.0]
    assert r.double_alerts == 1 and r.false_alerts == 2
    assert r.summary()["false_alerts_per_day"] == 2 / ((1440 - 20) / 1440)


def test_flaps_are_counted() -> None:
    from badbuzz.stream.simulation.evaluation import count_flaps

    t = T0.replace
    alerts = [AlertRecord("a", t(hour=1), t(hour=1, minute=5)), AlertRecord("a", t(hour=1, minute=20)),
              AlertRecord("b", t(hour=1, minute=21)), AlertRecord("a", t(hour=5))]
    assert count_flaps(alerts) == 1


def test_score_run_reads_truth_and_alert_files(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from badbuzz.services.tools.eval_alerts import score_run

    assert isinstance(tmp_path, Path)
    sc = Scenario(T0, 600, (TopicSpec("a", 30, 0.2),), (Episode("a", 100, 10, 2.0, 30, theme="work"),))
    sc.write_truth(tmp_path / "truth.json")
    events = [{"topic": "a", "state": "firing", "fired_at": T0.replace(hour=1, minute=43).isoformat()},
              {"topic": "all", "state": "firing", "fired_at": T0.replace(hour=1, minute=43).isoformat()},
              {"topic": "a", "state": "resolved", "fired_at": T0.replace(hour=1, minute=43).isoformat(),
               "resolved_at": T0.replace(hour=2).isoformat()}]
    (tmp_path / "alerts.jsonl").write_text("\n".join(json.dumps(e) for e in events))
    report = score_run(tmp_path / "truth.json", tmp_path / "alerts.jsonl")
    assert (report.detected, report.false_alerts, report.ttd_minutes) == (1, 0, [3.0])
