"""Every query of every Grafana dashboard returns data from the real Prometheus and PostgreSQL after a replay.

Grafana itself cannot be installed here, so this test does what Grafana would: it reads the provisioned
dashboard JSON, expands the variables and the macros the dashboards use (an unknown macro fails the test),
sends each PromQL to Prometheus's range-query API and each SQL to PostgreSQL as the read-only role, and
requires at least one series or row from each. The data comes from real services (scorer, alerter, API)
that ran one injected bad-buzz episode and a corpus of poison messages, registered in Prometheus under a
``deployment`` label of this test.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import (
    AlerterProcess,
    ApiProcess,
    ScorerProcess,
    Stack,
    Topics,
    produce,
    wait_until,
)
from tests.integration.test_alerting_stream import EpisodeStream
from tests.poison import poison_corpus
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration
DASHBOARDS = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
TOPIC = "baggage"


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str  # panel title and refId, or the variable or annotation name
    kind: str  # "promql", "sql" or "label_values"
    text: str


def queries() -> list[Query]:
    found: list[Query] = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        doc = json.loads(path.read_text())
        for p in doc["panels"]:
            for t in p["targets"]:
                kind = "promql" if "expr" in t else "sql"
                found.append(Query(path.stem, f"{p['title']} [{t['refId']}]", kind, t.get("expr") or t["rawSql"]))
        for v in doc["templating"]["list"]:
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            kind = "sql" if v["datasource"]["uid"] == "postgres" else "label_values"
            found.append(Query(path.stem, f"variable ${v['name']}", kind, q))
        for a in doc["annotations"]["list"]:
            if "target" in a:
                found.append(Query(path.stem, f"annotation {a['name']}", "sql", a["target"]["rawSql"]))
    return found


def expand_sql(sql: str, start: datetime, end: datetime) -> str:
    """Grafana's PostgreSQL macros as Grafana expands them; anything else left with a $ fails."""
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)",
                 lambda m: f"{m.group(1)} BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'", sql)
    sql = sql.replace("$topic", f"'{TOPIC}'")  # a single value, quoted as Grafana quotes it for SQL
    assert "$" not in sql, f"a macro or variable this test does not know: {sql}"
    return sql


def expand_promql(expr: str, deployment: str) -> str:
    regex = re.escape(deployment).replace("\\", "\\\\")  # a regex inside a PromQL string: backslashes doubled
    expr = expr.replace("$__rate_interval", "30s").replace("$deployment", regex)
    expr = expr.replace("$topic", TOPIC)
    assert "$" not in expr, f"a variable this test does not know: {expr}"
    return expr


def prom_range(stack: Stack, expr: str, minutes: int = 5) -> list[dict[str, Any]]:
    now = time.time()
    query = urllib.parse.urlencode({"query": expr, "start": now - 60 * minutes, "end": now, "step": "5"})
    try:
        with urllib.request.urlopen(f"{stack.prometheus_url}/api/v1/query_range?{query}", timeout=10) as r:
            doc = json.loads(r.read())
    except urllib.error.HTTPError as e:
        pytest.fail(f"Prometheus refused {expr}: {e.read().decode(errors='replace')}")
    return [s for s in doc["data"]["result"] if s["values"]]


def label_values(stack: Stack, query: str) -> list[str]:
    m = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
    assert m, f"not a Grafana label_values() query: {query}"
    args = urllib.parse.urlencode({"match[]": m.group(1)})
    url = f"{stack.prometheus_url}/api/v1/label/{m.group(2)}/values?{args}"
    return list(json.loads(urllib.request.urlopen(url, timeout=10).read())["data"])


def reader_url(database: str) -> str:
    """The test's database, through the read-only role that Grafana uses (deploy/postgres/reader.sql)."""
    base = os.environ.get("BADBUZZ_READER_DATABASE_URL")
    if not base:
        pytest.fail("BADBUZZ_READER_DATABASE_URL unset: run with `make test` or `eval \"$(deploy/stack.sh env)\"`")
    return f"{base.rpartition('/')[0]}/{database.rpartition('/')[2]}"


@pytest.fixture
def api(stack: Stack, database: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path) -> Iterator[ApiProcess]:
    proc = ApiProcess(database, tiny_model_dir, tmp_path / "api.log", role="read", key_name="dashboards",
                      BADBUZZ_PROMETHEUS_TARGETS=str(stack.prometheus_targets),
                      BADBUZZ_PROMETHEUS_LABELS=f"deployment={topics.group}").start()
    yield proc
    proc.stop()


def test_every_dashboard_query_returns_data_after_a_replay(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess],
    receiver: Receiver, s140_sample: Path, api: ApiProcess, tmp_path: Path,
) -> None:
    deployment = topics.group
    labels = {"BADBUZZ_PROMETHEUS_TARGETS": str(stack.prometheus_targets),
              "BADBUZZ_PROMETHEUS_LABELS": f"deployment={deployment}"}
    alerter = AlerterProcess(stack, topics, database, receiver.url, tmp_path / "alerter.log", **labels).start()
    scorer = scorer_factory(BADBUZZ_BATCH_MAX_SIZE="256", **labels)
    try:
        episode = EpisodeStream.build(s140_sample)
        poison = [(None, raw) for _, raw, _ in poison_corpus(f"{deployment}-p", datetime.now(UTC))]
        produce(stack.kafka, topics.raw, EpisodeStream.records(episode.first) + poison)
        wait_until(lambda: (TOPIC, "firing") in receiver.states(), 240, "the episode's alert", scorer.tail)
        for path in ("/v1/topics", "/v1/alerts", f"/v1/topics/{TOPIC}/timeline"):
            assert api.get(path, api.key) == 200, path
        assert api.get("/v1/topics") == 401

        found = queries()
        assert {q.dashboard for q in found} == {"badbuzz-ops", "badbuzz-buzz", "badbuzz-topic"}
        end, start = datetime.now(UTC), datetime.now(UTC) - timedelta(hours=6)
        results: dict[Query, int] = {}

        def has_data(q: Query) -> bool:
            if q.kind == "promql":
                results[q] = len(prom_range(stack, expand_promql(q.text, deployment)))
            elif q.kind == "label_values":
                results[q] = int(deployment in label_values(stack, q.text))
            else:
                with psycopg.connect(reader_url(database)) as conn:
                    results[q] = len(conn.execute(expand_sql(q.text, start, end)).fetchall())  # type: ignore[arg-type]
            return results[q] > 0

        # Prometheus scrapes every 2 s: a rate needs two scrapes after the first increment, so allow a little
        for q in found:
            wait_until(lambda q=q: has_data(q), 60, f"data for {q.dashboard} / {q.where}: {q.text}",  # type: ignore[misc]
                       lambda: scorer.tail()[-1500:])
        for q in found:
            print(f"[measure] {q.dashboard:14} {q.kind:12} {results[q]:4} {'rows' if q.kind == 'sql' else 'series'}"
                  f"  {q.where}")
        print(f"[measure] {len(found)} dashboard queries, all returned data")

        # the role the dashboards use cannot change anything: its sessions are read-only, and even with that
        # switched off it holds no write privilege
        with psycopg.connect(reader_url(database)) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM alerts")
        with psycopg.connect(reader_url(database), autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM alerts")
    finally:
        alerter.stop()
        scorer.stop()
