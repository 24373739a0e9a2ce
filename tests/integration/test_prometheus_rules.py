"""The alert rules shipped for Alertmanager users, checked and unit-tested by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
pytestmark = pytest.mark.integration


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: `deploy/stack.sh install prometheus` installs it")
    return path


def test_rules_are_valid() -> None:
    out = subprocess.run([promtool(), "check", "rules", "badbuzz.rules.yml"], cwd=RULES, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 5 rules found" in out.stdout


def test_rule_unit_tests_pass() -> None:
    out = subprocess.run([promtool(), "test", "rules", "badbuzz.rules.test.yml"], cwd=RULES, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail("amtool not found: `deploy/stack.sh install alertmanager` installs it")
    return path


@pytest.fixture
def am_config(tmp_path: Path) -> Path:
    """The Alertmanager template rendered as deploy/stack.sh renders it."""
    text = (RULES.parents[1] / "alertmanager" / "alertmanager.yml.in").read_text()
    for key, value in {"WEBHOOK_URL": "https://hooks.example.org/comms", "OPS_WEBHOOK_URL": "https://hooks.example.org/ops",
                       "GROUP_WAIT": "10s", "GROUP_INTERVAL": "1m"}.items():
        text = text.replace(f"@{key}@", value)
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    return path


def test_alertmanager_config_is_valid(am_config: Path) -> None:
    out = subprocess.run([amtool(), "check-config", str(am_config)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 inhibit rules" in out.stdout and "2 receivers" in out.stdout, out.stdout


@pytest.mark.parametrize(("labels", "receiver"), [
    (["alertname=BadBuzz", "severity=page", "topic=air-paradis"], "comms-team"),
    (["alertname=BadBuzzScorerStalled", "severity=page"], "comms-team"),
    (["alertname=BadBuzzScorerDown", "severity=ticket"], "ops-team"),
    (["alertname=BadBuzzDeadLettersRising", "severity=ticket"], "ops-team"),
])
def test_every_rule_routes_to_its_team(am_config: Path, labels: list[str], receiver: str) -> None:
    out = subprocess.run([amtool(), "config", "routes", "test", f"--config.file={am_config}", *labels],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == receiver


def test_every_rule_has_a_routed_severity() -> None:
    import yaml

    rules = [r for g in yaml.safe_load((RULES / "badbuzz.rules.yml").read_text())["groups"] for r in g["rules"]]
    assert {r["labels"]["severity"] for r in rules} <= {"page", "ticket"}
