"""Services register themselves with the real Prometheus (file_sd) while they run, and leave when they stop."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import AlerterProcess, ScorerProcess, Stack, Topics, prometheus_query, wait_until
from tests.webhook_receiver import Receiver


def target_health(stack: Stack, address: str) -> str | None:
    """Prometheus's view of the scrape target at ``address``: "up", "down", "unknown", or None if absent."""
    doc = json.loads(urllib.request.urlopen(f"{stack.prometheus_url}/api/v1/targets?state=active", timeout=5).read())
    for t in doc["data"]["activeTargets"]:
        if t["labels"].get("instance") == address:
            return str(t["health"])
    return None


def test_scorer_and_alerter_register_their_scrape_targets_and_remove_them_on_stop(
        stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess],
        receiver: Receiver, tmp_path: Path) -> None:
    label = f"test_run={topics.group},team=comms"
    alerter = AlerterProcess(stack, topics, database, receiver.url, tmp_path / "alerter.log",
                             BADBUZZ_PROMETHEUS_LABELS=label).start()
    scorer = scorer_factory(BADBUZZ_PROMETHEUS_TARGETS=str(stack.prometheus_targets), BADBUZZ_PROMETHEUS_LABELS=label)
    procs = {"alerter": alerter, "scorer": scorer}
    files = {name: stack.prometheus_targets / f"{name}-127.0.0.1-{p.metrics_port}.json" for name, p in procs.items()}
    try:
        for name, proc in procs.items():
            address = f"127.0.0.1:{proc.metrics_port}"
            wait_until(lambda a=address: target_health(stack, a) == "up", 90,  # type: ignore[misc]
                       f"Prometheus scraping the {name} it was never told about", proc.tail)
            doc = json.loads(files[name].read_text())
            assert doc[0]["targets"] == [address] and doc[0]["labels"]["service"] == name
            # the process's own labels reach its series
            up = prometheus_query(stack, f'up{{service="{name}", team="comms", test_run="{topics.group}"}}')
            print(f"[measure] {name} registered itself and is scraped: up={up}")
            assert up == 1
    finally:
        alerter.stop()
        scorer.stop()
    for name, proc in procs.items():
        assert not files[name].exists(), f"the stopped {name} left its target file behind"
        address = f"127.0.0.1:{proc.metrics_port}"
        wait_until(lambda a=address: target_health(stack, a) is None, 60,  # type: ignore[misc]
                   f"the stopped {name} leaving Prometheus's targets")
