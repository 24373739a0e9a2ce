"""Connectors into the real stream: ``badbuzz ingest jsonl`` and ``POST /v1/ingest`` produce to the real Kafka,
and the real scorer stores what they accepted (and nothing they refused)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.conftest import ApiProcess, ScorerProcess, Stack, Topics, stored_offsets, wait_until

pytestmark = pytest.mark.integration


def test_jsonl_and_the_api_feed_the_scorer(stack: Stack, topics: Topics, database: str,
                                          scorer_factory: Callable[..., ScorerProcess], tiny_model_dir: Path,
                                          tmp_path: Path) -> None:
    now = datetime.now(UTC).isoformat()
    lines = [json.dumps({"id": f"jl-{i}", "text": f"Air Paradis flight {i} delayed again", "created_at": now})
             for i in range(50)] + ["{broken", json.dumps({"id": "jl-x", "created_at": now})]
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADBUZZ_")}
    env.update({"BADBUZZ_KAFKA_BOOTSTRAP": stack.kafka, "BADBUZZ_KAFKA_TOPIC_RAW": topics.raw,
                "BADBUZZ_METRICS_PORT": "0",
                "BADBUZZ_HOME": str(tmp_path / "home")})
    out = subprocess.run([sys.executable, "-m", "badbuzz.services.cli", "ingest", "jsonl", str(feed)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr  # two lines refused
    assert "50 accepted, 2 refused" in out.stderr and "line 51: decode" in out.stderr
    assert "line 52: schema: field 'text' is missing" in out.stderr

    api = ApiProcess(database, tiny_model_dir, tmp_path / "api.log", BADBUZZ_KAFKA_BOOTSTRAP=stack.kafka,
                     BADBUZZ_KAFKA_TOPIC_RAW=topics.raw).start()
    try:
        records = [{"id": f"api-{i}", "text": "the crew was lovely", "created_at": now} for i in range(20)]
        req = urllib.request.Request(f"{api.base}/v1/ingest", method="POST",
                                     data=json.dumps({"records": [*records, {"id": "bad"}]}).encode(),
                                     headers={"Authorization": f"Bearer {api.key}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            doc = json.loads(resp.read())
        assert resp.status == 202 and doc["accepted"] == 20 and doc["destination"] == "kafka"
        assert [r["index"] for r in doc["refused"]] == [20]
    finally:
        api.stop()

    scorer = scorer_factory()
    wait_until(lambda: len(stored_offsets(database)) == 70, 180, "the 70 accepted records stored", scorer.tail)
    print("[measure] ingest: 50 JSON lines (2 refused) and 20 API records (1 refused) produced to Kafka; "
          "70 stored by the scorer")
