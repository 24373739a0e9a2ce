"""The stream over Kafka's SASL_SSL listener (SCRAM-SHA-512 over TLS, certificate from the stack's own CA),
as a deployment against a managed broker runs it; and a wrong password is a clear, immediate error.

deploy/stack.sh starts the broker with that listener (BADBUZZ_KAFKA_SASL_BOOTSTRAP) beside the loopback
PLAINTEXT one, generates the CA and the broker's certificate (BADBUZZ_KAFKA_CA_FILE) and creates the SCRAM
user ``badbuzz`` with a generated password (BADBUZZ_KAFKA_SASL_PASSWORD).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from badbuzz.stream.kafka.clients import KafkaAuthFailed, ensure_topics, make_producer
from badbuzz.stream.kafka.security import KafkaSecurity
from tests.integration.conftest import ON_EVERY_ENGINE, ScorerProcess, Stack, Topics, stored_offsets, wait_until

pytestmark = pytest.mark.integration


def raw_records(prefix: str, n: int) -> list[tuple[bytes, bytes]]:
    now = datetime.now(UTC)
    return [(f"{prefix}-{i}".encode(), json.dumps({
        "id": f"{prefix}-{i}", "text": "lost my bag again" if i % 3 == 0 else "lovely crew on the flight today",
        "created_at": (now - timedelta(seconds=n - i)).isoformat()}).encode()) for i in range(n)]


def sasl_env() -> tuple[str, dict[str, str]]:
    names = ["BADBUZZ_KAFKA_SASL_BOOTSTRAP", "BADBUZZ_KAFKA_SASL_PASSWORD", "BADBUZZ_KAFKA_CA_FILE"]
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.fail(f"{', '.join(missing)} unset: run with `make test` or `eval \"$(deploy/stack.sh env)\"`")
    return os.environ["BADBUZZ_KAFKA_SASL_BOOTSTRAP"], {
        "BADBUZZ_KAFKA_BOOTSTRAP": os.environ["BADBUZZ_KAFKA_SASL_BOOTSTRAP"],
        "BADBUZZ_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "BADBUZZ_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "BADBUZZ_KAFKA_USERNAME": "badbuzz", "BADBUZZ_KAFKA_PASSWORD": os.environ["BADBUZZ_KAFKA_SASL_PASSWORD"],
        "BADBUZZ_KAFKA_CA_FILE": os.environ["BADBUZZ_KAFKA_CA_FILE"]}


def security(password: str) -> KafkaSecurity:
    return KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "badbuzz", password, Path(os.environ["BADBUZZ_KAFKA_CA_FILE"]))


@ON_EVERY_ENGINE
def test_the_stream_runs_over_sasl_ssl(stack: Stack, topics: Topics, database: str,
                                       scorer_factory: Callable[..., ScorerProcess]) -> None:
    bootstrap, env = sasl_env()
    secure = security(env["BADBUZZ_KAFKA_PASSWORD"])
    ensure_topics(bootstrap, [topics.raw, topics.scored, topics.dlq], 4, 8 * 1024 * 1024, secure)
    scorer = scorer_factory(**env)
    producer = make_producer(bootstrap, 8 * 1024 * 1024, secure)
    records = raw_records("sasl", 300)
    started = time.monotonic()
    for key, value in records:
        producer.send(topics.raw, key=key, value=value)
    producer.flush(30)
    producer.close()
    wait_until(lambda: len(stored_offsets(database)) == len(records), 180,
               "every tweet sent over SASL_SSL stored", scorer.tail)
    print(f"[measure] {len(records)} tweets produced and consumed over SASL_SSL (SCRAM-SHA-512, TLS) and stored "
          f"in {time.monotonic() - started:.1f} s")
    assert "SASL" not in scorer.tail() or "Authentication failed" not in scorer.tail()
    # the scores went out over the same listener (rows are stored before they are published)
    consumer = KafkaConsumer(topics.scored, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=30_000, **secure.kafka_python())
    published: set[bytes] = set()
    for record in consumer:
        published.add(record.key)
        if len(published) == len(records):
            break
    consumer.close()
    assert published == {key for key, _ in records}


def test_a_wrong_password_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    bootstrap, env = sasl_env()
    started = time.monotonic()
    with pytest.raises(KafkaAuthFailed, match="refused SASL_SSL SCRAM-SHA-512 authentication as 'badbuzz'"):
        ensure_topics(bootstrap, ["never-created"], 1, 1024, security("not-the-password"))
    library = time.monotonic() - started
    base = {k: v for k, v in os.environ.items() if not k.startswith("BADBUZZ_")}
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "badbuzz.services.cli", "services", "topics"], capture_output=True,
                         text=True, timeout=120,
                         env={**base, **env, "BADBUZZ_KAFKA_PASSWORD": "not-the-password",
                              "BADBUZZ_HOME": str(tmp_path)})
    cli = time.monotonic() - started
    print(f"[measure] wrong Kafka password: refused in {library:.1f} s (library), {cli:.1f} s (command, exit "
          f"{out.returncode})")
    assert out.returncode != 0
    assert "check BADBUZZ_KAFKA_USERNAME / BADBUZZ_KAFKA_PASSWORD" in out.stderr, out.stderr[-2000:]
    assert "not-the-password" not in out.stdout + out.stderr
