"""The HTTP API as a real process on the real PostgreSQL (and Kafka for readiness), fuzzed by Schemathesis
from its own OpenAPI document: no server error, every response as the schema says."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.stream.detection.detector import DetectorConfig
from tests.integration.conftest import ApiProcess, Stack
from tests.seed import scored_minutes

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
T0 = NOW - timedelta(hours=3)


def seed(database: str) -> None:
    """Three hours of a topic with a ten-minute bad buzz, stored and alerted by the real services' code."""
    engine = make_engine(database)
    rng = random.Random(5)
    rows = (scored_minutes(T0, range(90), 0.2, rng, per_minute=30, prefix="api-", scored_at=NOW)
            + scored_minutes(T0, range(90, 100), 0.7, rng, per_minute=30, prefix="api-", scored_at=NOW)
            + scored_minutes(T0, range(100, 150), 0.2, rng, per_minute=30, prefix="api-", scored_at=NOW))
    ScoreStore(engine).write(rows)
    AlertService(AlertStore(engine), DetectorConfig(alpha=1e-6), allowed_lateness=timedelta(seconds=30),
                 metrics=AlertMetrics(CollectorRegistry()), wall_clock=lambda: NOW).run_once()


def get(url: str, key: str | None = None) -> tuple[int, object]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_live_api_on_postgresql_passes_schemathesis(stack: Stack, database: str, tiny_model_dir: Path,
                                                     tiny_emotion_model_dir: Path, tmp_path: Path) -> None:
    seed(database)
    proc = ApiProcess(database, tiny_model_dir, tmp_path / "api.log", key_name="schemathesis",
                      BADBUZZ_KAFKA_BOOTSTRAP=stack.kafka, BADBUZZ_EMOTION_MODEL_DIR=str(tiny_emotion_model_dir),
                      BADBUZZ_EMOTIONS="negative",
                      # POST /v1/ingest produces what the fuzzer sends: to a topic of this test, not the stack's
                      BADBUZZ_KAFKA_TOPIC_RAW=f"schemathesis-{uuid.uuid4().hex[:10]}.raw")
    key, base = proc.key, proc.base
    try:
        proc.start()
        status, ready = get(f"{base}/readyz")
        assert status == 200 and ready == {"ready": True, "checks": {"database": "ok", "kafka": "ok", "model": "ok"}}
        status, topics = get(f"{base}/v1/topics", key)
        assert status == 200 and {t["topic"] for t in topics} == {"all", "baggage"}  # type: ignore[union-attr]
        assert get(f"{base}/v1/topics")[0] == 401
        run = subprocess.run(
            [str(Path(sys.executable).parent / "st"), "--no-color", "run", f"{base}/openapi.json",
             "-H", f"Authorization: Bearer {key}", "--checks", "not_a_server_error,response_schema_conformance",
             "--max-examples", "30", "--request-timeout", "20", "--seed", "13"],
            capture_output=True, text=True, timeout=900)
        out = run.stdout + run.stderr
        counts = re.search(r"(\d+) generated.*", out)
        print(f"[measure] schemathesis on the live API (PostgreSQL): {counts.group(0) if counts else '?'}; "
              f"exit {run.returncode}")
        assert run.returncode == 0, out[-6000:]
    finally:
        proc.stop()
