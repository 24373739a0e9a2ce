"""The README's first command: `badbuzz demo` on the released models, embedded, no training."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from badbuzz.models.serving.model_dir import load_manifest
from badbuzz.models.serving.released import released_model_dir
from badbuzz.services.cli import main
from badbuzz.stream.scoring.topics import EXAMPLE_TOPICS, TopicMatcher


def test_demo_uses_the_released_models_and_catches_the_french_episode(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("BADBUZZ_MODEL_DIR", "BADBUZZ_EMOTION_MODEL_DIR", "BADBUZZ_DATABASE_URL", "BADBUZZ_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BADBUZZ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BADBUZZ_METRICS_PORT", "0")
    started = time.monotonic()
    assert main(["demo", "--data", str(data_dir / "sentiment140")]) == 0
    seconds = time.monotonic() - started
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{\n"):])
    sentiment, emotion = (load_manifest(released_model_dir(t)) for t in ("sentiment3", "emotion4"))
    print(f"[measure] demo on the released models: {seconds:.0f} s, {summary['tweets_scored']} tweets, "
          f"{summary['tweets_per_second']} tweets/s, episodes {summary['episodes_detected']}, "
          f"false alerts {summary['false_alerts']}, stream accuracy {summary['model_accuracy_on_stream']}")
    assert summary["model"].startswith(sentiment.version) and summary["emotion_model"].startswith(emotion.version)
    assert not (tmp_path / "home" / "model").exists()  # nothing was trained
    assert summary["tweets_scored"] > 1000 and summary["dead_letters"] == 0
    assert summary["episodes_detected"] == "1/1"
    # a bilingual stream (UMSAB's French beside Sentiment140) whose bad buzz is French: detected, French tweets
    # scored by the multilingual model (not left unscored), and the alert says so and shows French tweets
    langs = summary["languages"]
    assert langs["fr"]["tweets"] > 1000 and langs["fr"]["unscored"] < 0.02 * langs["fr"]["tweets"]
    assert langs["en"]["unscored"] < 0.01 * langs["en"]["tweets"]
    first = summary["alert_explanations"][0]
    assert max(first["languages"], key=first["languages"].get) == "fr" and "% French" in first["summary"]
    assert sum(e.startswith("fr: ") for e in first["examples"]) >= 2
    # each alert's example tweets are about its topic (the stream is drawn per topic from the topics file)
    matcher = TopicMatcher.from_file(EXAMPLE_TOPICS)
    for explained in summary["alert_explanations"]:
        topic = explained["summary"].split("'")[1]
        assert all(topic in matcher.assign(e.split(": ", 1)[1]) for e in explained["examples"]), explained
    # the mood line speaks only for the negatives the English emotion head could read
    assert "Mood (of the " in out or "Mood: " in out
    assert Path(summary["plot"]).is_file()
