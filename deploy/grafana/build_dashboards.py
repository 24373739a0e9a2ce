"""Writes the Grafana dashboards under ``dashboards/`` from the short specifications below.

Why a generator: three dashboards share their variables, data sources and panel conventions, and hand-edited
Grafana JSON drifts (the old overview had two queries with one refId). Edit this file, then run
``python deploy/grafana/build_dashboards.py``; the test suite fails when the JSON on disk differs from what
this file writes, and runs every query of every panel against the real Prometheus and PostgreSQL.

Conventions the integration test relies on: Prometheus queries filter on ``deployment=~"$deployment"`` (the
``deployment`` target label, ``BADBUZZ_PROMETHEUS_LABELS``); SQL uses only the ``$__timeFilter(column)`` macro
and the ``$topic`` variable; PostgreSQL is read through the read-only ``badbuzz_reader`` role.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
PROM = {"type": "prometheus", "uid": "prometheus"}
PG = {"type": "grafana-postgresql-datasource", "uid": "postgres"}
DEP = 'deployment=~"$deployment"'
RATE = "$__rate_interval"
Panel = dict[str, Any]


def m(name: str, *matchers: str) -> str:
    """A selector of this deployment's series: ``m("badbuzz_alert_active", 'topic=~"$topic"')``."""
    return f"{name}{{{', '.join((DEP, *matchers))}}}"


def rate(name: str, by: str = "") -> str:
    return f"sum{f' by ({by})' if by else ''} (rate({m(name)}[{RATE}]))"


def quantile(q: float, histogram: str, by: str = "le") -> str:
    return f"histogram_quantile({q}, {rate(histogram + '_bucket', by)})"


def prom(*exprs: tuple[str, str]) -> list[dict[str, Any]]:
    """Prometheus targets from (legend, expression) pairs, refIds A, B, C… in order."""
    return [{"refId": chr(65 + i), "datasource": PROM, "expr": expr, "legendFormat": legend, "range": True}
            for i, (legend, expr) in enumerate(exprs)]


def one_line(query: str) -> str:
    """SQL as one line in the JSON (Grafana shows it in its editor as typed)."""
    return " ".join(query.split())


def sql(query: str, fmt: str = "time_series") -> list[dict[str, Any]]:
    return [{"refId": "A", "datasource": PG, "rawQuery": True, "editorMode": "code", "format": fmt,
             "rawSql": one_line(query)}]


def panel(kind: str, title: str, targets: list[dict[str, Any]], *, unit: str = "short", width: int = 12,
          height: int = 8, description: str = "", overrides: list[dict[str, Any]] | None = None,
          options: dict[str, Any] | None = None, custom: dict[str, Any] | None = None) -> Panel:
    return {"type": kind, "title": title, "description": description, "datasource": targets[0]["datasource"],
            "targets": targets, "gridPos": {"w": width, "h": height},
            "fieldConfig": {"defaults": {"unit": unit, "custom": custom or {}}, "overrides": overrides or []},
            "options": options or {}}


def layout(panels: list[Panel]) -> list[Panel]:
    """Left to right, top to bottom on Grafana's 24-column grid; ids in order."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        p["id"] = i
        x, row_h = x + w, max(row_h, h)
    return panels


def deployment_var() -> dict[str, Any]:
    return {"name": "deployment", "label": "Deployment", "type": "query", "datasource": PROM,
            "query": {"query": "label_values(up{service!=\"\"}, deployment)", "refId": "deployment"},
            "definition": "label_values(up{service!=\"\"}, deployment)",
            "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2,
            "current": {"text": "All", "value": "$__all"}}


def topic_var(multi: bool) -> dict[str, Any]:
    query = "SELECT topic FROM detector_state ORDER BY topic"  # one row per watched topic, kept by the alerter
    return {"name": "topic", "label": "Topic", "type": "query", "datasource": PG,
            "query": query, "definition": query, "includeAll": multi, "multi": multi, "refresh": 2,
            # no custom allValue: "All" expands to every value, quoted for SQL and as a regex for PromQL
            **({"current": {"text": "All", "value": "$__all"}} if multi else {})}


def dashboard(uid: str, title: str, description: str, panels: list[Panel], variables: list[dict[str, Any]],
              annotations: list[dict[str, Any]] | None = None, time_from: str = "now-6h") -> dict[str, Any]:
    builtin = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
               "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}
    return {"uid": uid, "title": title, "description": description, "tags": ["badbuzz"], "schemaVersion": 39,
            "version": 1, "editable": True, "graphTooltip": 1, "refresh": "30s",
            "time": {"from": time_from, "to": "now"}, "timezone": "browser",
            "templating": {"list": variables},
            "annotations": {"list": [builtin, *(annotations or [])]},
            "links": [{"title": "Bad Buzz Watch", "type": "dashboards", "tags": ["badbuzz"], "asDropdown": True}],
            "panels": layout(panels)}


ALERT_ANNOTATION = {
    "name": "Bad-buzz alerts", "enable": True, "iconColor": "red", "datasource": PG, "rawQuery": True,
    "target": {"refId": "Anno", "format": "table", "rawQuery": True, "editorMode": "code", "rawSql": one_line("""
        SELECT fired_at AS time, COALESCE(resolved_at, now()) AS timeend,
               topic || ': ' || round(100 * negative_rate) || '% negative against a usual '
                     || round(100 * baseline_rate) || '% (' || volume || ' tweets)' AS text,
               topic || ',' || state AS tags
        FROM alerts WHERE $__timeFilter(fired_at) AND topic IN ($topic) ORDER BY fired_at""")},
}


def operations() -> dict[str, Any]:
    panels = [
        panel("timeseries", "Tweets scored per second", prom(
            ("{{label}}", rate("badbuzz_tweets_scored_total", "label"))), unit="reqps"),
        panel("timeseries", "End-to-end latency (broker to stored)", prom(
            ("p50", quantile(0.5, "badbuzz_end_to_end_latency_seconds")),
            ("p95", quantile(0.95, "badbuzz_end_to_end_latency_seconds"))),
            unit="s"),
        panel("timeseries", "Consumer lag (tweets waiting)", prom(
            ("partition {{partition}}", f"sum by (partition) ({m('badbuzz_consumer_lag')})")),
            description="Messages behind each partition's high watermark, measured from the broker."),
        panel("timeseries", "Dead letters per second", prom(
            ("{{kind}}", rate("badbuzz_dlq_messages_total", "kind"))), unit="reqps",
            description="Malformed or refused messages sent to tweets.dlq, by kind (docs/contracts.md)."),
        panel("timeseries", "Store and delivery retries per second", prom(
            ("store {{instance}}", rate("badbuzz_store_retries_total", "instance")),
            ("delivery {{stage}}", rate("badbuzz_delivery_retries_total", "stage"))),
            unit="reqps", description="Non-zero while PostgreSQL or Kafka is unreachable: batches are held, not lost."),
        panel("timeseries", "Batch size and timings", prom(
            ("batch size p50", quantile(0.5, "badbuzz_batch_size")),
            ("inference p95 (s)", quantile(0.95, "badbuzz_inference_seconds")),
            ("store p95 (s)", quantile(0.95, "badbuzz_store_seconds")))),
        panel("stat", "Scorers ready", prom(
            ("{{instance}}", m("badbuzz_scorer_ready"))), width=6, height=5,
            description="0 while an outage holds a batch back."),
        panel("stat", "Since last delivery", prom(
            ("{{instance}}", f"time() - {m('badbuzz_last_delivery_seconds')}")), unit="s", width=6, height=5),
        panel("stat", "Alerter leader and event-time delay", prom(
            ("leader {{instance}}", m("badbuzz_alerter_leader")),
            ("delay {{instance}} (s)", f"time() - {m('badbuzz_alerter_watermark_seconds')}")), width=6, height=5),
        panel("table", "Model served", prom(
            ("{{instance}}", m("badbuzz_model_info"))), width=6, height=5,
            options={"showHeader": True}),
        panel("timeseries", "API requests per second", prom(
            ("{{route}} {{status}}", rate("badbuzz_api_requests_total", "route, status"))),
            unit="reqps"),
        panel("timeseries", "API latency p95", prom(
            ("{{route}}", quantile(0.95, "badbuzz_api_request_seconds", "le, route"))),
            unit="s"),
        panel("timeseries", "Scrape health", prom(
            ("{{service}} {{instance}}", m("up", 'service!=""'))), width=24, height=6,
            description="1 while Prometheus reaches each service's /metrics (they register themselves)."),
    ]
    return dashboard("badbuzz-ops", "Bad Buzz Watch: operations",
                     "Is the pipeline keeping up? Throughput, latency, lag, dead letters, retries.",
                     panels, [deployment_var()], time_from="now-1h")


def bad_buzz() -> dict[str, Any]:
    topic = 'topic=~"$topic"'
    band = [{"matcher": {"id": "byName", "options": "usual, upper"},
             "properties": [{"id": "custom.fillBelowTo", "value": "usual, lower"},
                            {"id": "custom.lineWidth", "value": 0}]},
            {"matcher": {"id": "byName", "options": "usual, lower"},
             "properties": [{"id": "custom.lineWidth", "value": 0}]}]
    base, volume = m("badbuzz_topic_baseline_rate", topic), m("badbuzz_topic_volume", topic)
    sigma = f"2 * sqrt({base} * (1 - {base}) / clamp_min({volume}, 1))"
    panels = [
        panel("timeseries", "Negative share vs usual", prom(
            ("{{topic}}", f"max by (topic) ({m('badbuzz_topic_window_negative_rate', topic)})"),
            ("usual, upper", f"max({base} + {sigma})"),
            ("usual, lower", f"max(clamp_min({base} - {sigma}, 0))")),
            unit="percentunit", width=24, overrides=band,
            description="Share of negative tweets in the most significant window; the band is the learned usual "
                        "share ± 2 binomial standard errors of one minute's volume. Alerts are marked."),
        panel("timeseries", "Volume (tweets in the last minute)", prom(
            ("{{topic}}", f"max by (topic) ({volume})"))),
        panel("timeseries", "Significance (-log10 p)", prom(
            ("{{topic}}", f"max by (topic) ({m('badbuzz_topic_significance', topic)})")),
            description="How unlikely the window's negatives are under the usual share; alerts need the "
                        "threshold for the configured false-alarm budget."),
        panel("state-timeline", "Alert state", prom(
            ("{{topic}}", f"max by (topic) ({m('badbuzz_alert_active', topic)})")), width=24, height=6,
            custom={"fillOpacity": 80},
            options={"mergeValues": True, "showValue": "never"}),
        panel("timeseries", "Negative share per minute of tweet time (PostgreSQL)", sql("""
            SELECT minute AS time, topic AS metric, n_negative::float / NULLIF(n, 0) AS negative_share
            FROM topic_minute_rollups WHERE $__timeFilter(minute) AND topic IN ($topic) ORDER BY 1"""),
            unit="percentunit", width=24),
        panel("table", "Alerts", sql("""
            SELECT fired_at AS "fired", resolved_at AS "resolved", topic, state,
                   round(100 * negative_rate) AS "negative %", round(100 * baseline_rate) AS "usual %", volume,
                   (SELECT count(*) FROM alert_acks k WHERE k.alert_id = a.id) AS acks
            FROM alerts a WHERE $__timeFilter(fired_at) AND topic IN ($topic) ORDER BY fired_at DESC LIMIT 100""",
            "table"), width=24),
    ]
    return dashboard("badbuzz-buzz", "Bad Buzz Watch: bad buzz",
                     "Per topic: negative share against its usual band, volume, significance and alerts.",
                     panels, [deployment_var(), topic_var(multi=True)], [ALERT_ANNOTATION])


def drill_down() -> dict[str, Any]:
    panels = [
        panel("timeseries", "Negative share and volume per minute (PostgreSQL)", sql("""
            SELECT minute AS time, n_negative::float / NULLIF(n, 0) AS negative_share, n AS volume
            FROM topic_minute_rollups WHERE $__timeFilter(minute) AND topic IN ($topic) ORDER BY 1"""),
            width=24, overrides=[{"matcher": {"id": "byName", "options": "volume"},
                                  "properties": [{"id": "custom.axisPlacement", "value": "right"},
                                                 {"id": "unit", "value": "short"}]}],
            unit="percentunit"),
        panel("timeseries", "Emotions of negative tweets (PostgreSQL)", sql("""
            SELECT date_trunc('minute', s.created_at) AS time,
                   avg((s.emotions->>'anger')::float) AS anger, avg((s.emotions->>'sadness')::float) AS sadness,
                   avg((s.emotions->>'joy')::float) AS joy, avg((s.emotions->>'optimism')::float) AS optimism
            FROM scored_tweets s JOIN tweet_topics t ON t.tweet_id = s.tweet_id
            WHERE $__timeFilter(s.created_at) AND t.topic IN ($topic) AND s.label = 'negative'
              AND s.emotions IS NOT NULL
            GROUP BY 1 ORDER BY 1"""), unit="percentunit", width=12,
            custom={"stacking": {"mode": "normal"}, "fillOpacity": 60}),
        panel("table", "Alerts on this topic", sql("""
            SELECT fired_at AS "fired", resolved_at AS "resolved", state,
                   round(100 * negative_rate) AS "negative %", round(100 * baseline_rate) AS "usual %", volume,
                   emotions::text AS mood
            FROM alerts WHERE $__timeFilter(fired_at) AND topic IN ($topic) ORDER BY fired_at DESC LIMIT 50""",
            "table"), width=12),
        panel("table", "Latest negative tweets", sql("""
            SELECT s.created_at AS "time", s."user", s.text, round(s.p_negative::numeric, 2) AS "p(negative)",
                   s.emotions::text AS emotions
            FROM scored_tweets s JOIN tweet_topics t ON t.tweet_id = s.tweet_id
            WHERE $__timeFilter(s.created_at) AND t.topic IN ($topic) AND s.label = 'negative'
            ORDER BY s.created_at DESC LIMIT 100""", "table"), width=24, height=12),
    ]
    return dashboard("badbuzz-topic", "Bad Buzz Watch: topic drill-down",
                     "One topic: minute by minute, the mood of its negative tweets, its alerts and the tweets.",
                     panels, [topic_var(multi=False)], [ALERT_ANNOTATION])


DASHBOARDS = {"badbuzz-ops.json": operations, "badbuzz-buzz.json": bad_buzz, "badbuzz-topic.json": drill_down}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
