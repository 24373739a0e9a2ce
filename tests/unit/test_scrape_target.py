"""A process's Prometheus file_sd target: written atomically with its labels, removed at exit."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from badbuzz.services.settings import Settings
from badbuzz.stream.scoring.metrics import ScrapeTarget, serve_metrics


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serving_metrics_registers_a_target_that_points_at_them(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    Counter("badbuzz_probe", "probe", registry=registry).inc()
    port = free_port()
    target = serve_metrics(registry, port, "127.0.0.1", targets_dir=tmp_path / "targets", service="scorer",
                           labels={"replica": "2", "env": "test"})
    assert target is not None
    files = sorted((tmp_path / "targets").iterdir())
    assert files == [target.path] and target.path.name == f"scorer-127.0.0.1-{port}.json"  # no temp file left
    (doc,) = json.loads(target.path.read_text())
    assert doc == {"targets": [f"127.0.0.1:{port}"], "labels": {"service": "scorer", "replica": "2", "env": "test"}}
    body = urllib.request.urlopen(f"http://{doc['targets'][0]}/metrics", timeout=5).read().decode()
    assert "badbuzz_probe_total 1.0" in body
    target.remove()
    assert not target.path.exists()
    target.remove()  # twice (atexit after an explicit stop) is fine


def test_no_port_no_target_and_a_wildcard_address_registers_the_host_name(tmp_path: Path) -> None:
    assert serve_metrics(CollectorRegistry(), 0, targets_dir=tmp_path) is None
    assert not list(tmp_path.iterdir())
    target = ScrapeTarget(tmp_path, "alerter", "0.0.0.0", 9465, {})
    assert target.address == f"{socket.gethostname()}:9465"


def test_target_labels_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BADBUZZ_REPLICA", "3")
    monkeypatch.setenv("BADBUZZ_PROMETHEUS_LABELS", "env=prod,brand=airparadis")
    assert Settings().target_labels == {"replica": "3", "env": "prod", "brand": "airparadis"}
    monkeypatch.setenv("BADBUZZ_PROMETHEUS_LABELS", "not a label list")
    with pytest.raises(ValueError):
        Settings()


def test_a_blank_targets_folder_registers_nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """``BADBUZZ_PROMETHEUS_TARGETS=`` (how a bench or a compose file unsets it) is no folder, not the working
    directory: a blank once left scrape-target files in whatever folder a process was started from."""
    monkeypatch.setenv("BADBUZZ_PROMETHEUS_TARGETS", "")
    assert Settings().prometheus_targets is None
    monkeypatch.delenv("BADBUZZ_ALERT_TOPICS", raising=False)  # the stack's environment names watched topics
    for name in ("DATA", "MODEL_DIR", "EMOTION_MODEL_DIR", "MULTILINGUAL_MODEL_DIR", "TOPICS_FILE", "ALERTS_FILE"):
        monkeypatch.setenv(f"BADBUZZ_{name}", " ")  # as `${BADBUZZ_TOPICS_FILE:-}` in a compose file leaves it
        assert getattr(Settings(), name.lower()) is None, name
    monkeypatch.setenv("BADBUZZ_PROMETHEUS_TARGETS", "/srv/targets")
    assert Settings().prometheus_targets == Path("/srv/targets")
