"""Prometheus's rules fire on real series, the real Alertmanager routes, groups and inhibits them, and delivers
to a webhook receiver of this test.

The series come from a small exporter of this test, registered with the stack's Prometheus through the same
file_sd folder the services use, under a ``deployment`` label of its own: other tests' alerts (other
deployments) can neither inhibit nor be mistaken for these.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from badbuzz.stream.scoring.metrics import ScrapeTarget
from tests.integration.conftest import Stack, wait_until
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "alertmanager" / "alertmanager.yml.in"


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} unset: run the suite with `make test`, or `eval \"$(deploy/stack.sh env)\"`")
    return value


class Exporter:
    """The metrics a scorer and an alerter of one deployment would export, set by the test."""

    def __init__(self, targets: Path, deployment: str) -> None:
        self.registry = CollectorRegistry()
        self.alert_active = Gauge("badbuzz_alert_active", "", ["topic"], registry=self.registry)
        self.rate = Gauge("badbuzz_topic_window_negative_rate", "", ["topic"], registry=self.registry)
        self.baseline = Gauge("badbuzz_topic_baseline_rate", "", ["topic"], registry=self.registry)
        self.lag = Gauge("badbuzz_consumer_lag", "", ["topic", "partition"], registry=self.registry)
        self.last_delivery = Gauge("badbuzz_last_delivery_seconds", "", registry=self.registry)
        # the leading alerter's gauge is the only one the BadBuzz rule counts (a standby's never pages)
        Gauge("badbuzz_alerter_leader", "", registry=self.registry).set(1)
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.target = ScrapeTarget(targets, "it-exporter", "127.0.0.1", self.server.server_port,
                                   {"deployment": deployment})

    def close(self) -> None:
        self.target.remove()
        self.server.shutdown()


def am_alerts(deployment: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"filter": f'deployment="{deployment}"', "silenced": "false",
                                    "inhibited": "true", "active": "true"})
    url = f"{env('BADBUZZ_ALERTMANAGER_URL')}/api/v2/alerts?{query}"
    return list(json.loads(urllib.request.urlopen(url, timeout=5).read()))


def delivered(receiver: Receiver, deployment: str, to: str) -> list[dict[str, Any]]:
    """Alertmanager's webhook documents for this deployment sent to receiver ``to``, oldest first."""
    docs = [json.loads(body) for _, body in list(receiver.posts)]
    return [d for d in docs if d.get("groupLabels", {}).get("deployment") == deployment and d.get("receiver") == to]


def test_rule_fires_alertmanager_delivers_groups_and_inhibits(stack: Stack, am_receiver: Receiver) -> None:
    deployment = f"it-{uuid.uuid4().hex[:10]}"
    exporter = Exporter(stack.prometheus_targets, deployment)
    neighbour = Exporter(stack.prometheus_targets, f"{deployment}-other")  # a second brand, healthy throughout
    try:
        neighbour.last_delivery.set_function(time.time)
        neighbour.alert_active.labels("neighbour-topic").set(1)
        neighbour.target.register()
        # A healthy scorer, and the alerter deciding bad buzz on two topics at once.
        exporter.last_delivery.set_function(time.time)
        exporter.lag.labels("tweets.raw", "0").set(0)
        for topic in ("air-paradis", "air-paradis-delays"):
            exporter.rate.labels(topic).set(0.45)
            exporter.baseline.labels(topic).set(0.2)
        start = time.monotonic()
        exporter.alert_active.labels("air-paradis").set(1)
        exporter.alert_active.labels("air-paradis-delays").set(1)
        exporter.target.register()

        def firing_bad_buzz() -> list[dict[str, Any]]:
            return [d for d in delivered(am_receiver, deployment, "comms-team")
                    if d["groupLabels"].get("alertname") == "BadBuzz" and d["status"] == "firing"]

        wait_until(lambda: bool(firing_bad_buzz()), 90, "Alertmanager delivering the BadBuzz alert",
                   lambda: json.dumps(am_alerts(deployment), indent=1))
        took = time.monotonic() - start
        doc = firing_bad_buzz()[0]
        # grouped: one notification for both topics, routed to the communications team, with the rule's text
        assert doc["receiver"] == "comms-team"
        assert sorted(a["labels"]["topic"] for a in doc["alerts"]) == ["air-paradis", "air-paradis-delays"]
        assert {a["annotations"]["description"].split()[2] for a in doc["alerts"]} == {"45%"}
        print(f"[measure] BadBuzz scraped, fired and delivered by Alertmanager in {took:.1f} s "
              f"(1 notification, {len(doc['alerts'])} topics)")

        # The scorer stalls: tweets waiting, nothing delivered for 100 s. The stall page goes out and the
        # bad-buzz alerts, now decided on stale data, are inhibited.
        stalled_at = time.time() - 100
        exporter.last_delivery.set_function(lambda: stalled_at)
        exporter.lag.labels("tweets.raw", "0").set(40)
        start = time.monotonic()

        def stall_delivered() -> bool:
            return any(d["groupLabels"].get("alertname") == "BadBuzzScorerStalled" and d["status"] == "firing"
                       for d in delivered(am_receiver, deployment, "comms-team"))

        def bad_buzz_inhibited() -> bool:
            states = {a["labels"]["alertname"]: a["status"] for a in am_alerts(deployment)}
            bad = states.get("BadBuzz")
            return bad is not None and bad["state"] == "suppressed" and bool(bad["inhibitedBy"])

        wait_until(stall_delivered, 120, "Alertmanager delivering BadBuzzScorerStalled",
                   lambda: json.dumps(am_alerts(deployment), indent=1))
        wait_until(bad_buzz_inhibited, 30, "BadBuzz inhibited by the stalled scorer",
                   lambda: json.dumps(am_alerts(deployment), indent=1))
        print(f"[measure] stall delivered and BadBuzz inhibited {time.monotonic() - start:.1f} s after the stall")
        # The inhibition is scoped: the other deployment's bad buzz stays active.
        other = {a["labels"]["alertname"]: a["status"]["state"] for a in am_alerts(f"{deployment}-other")}
        assert other == {"BadBuzz": "active"}, other
    finally:
        exporter.close()
        neighbour.close()
