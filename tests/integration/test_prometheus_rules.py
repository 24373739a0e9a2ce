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
