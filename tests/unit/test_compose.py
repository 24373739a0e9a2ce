"""docker-compose.yml resolved as compose would resolve it, and each Bad Buzz service's environment validated
by that service's own settings: the stack starts with the secrets deploy/secrets.sh generates, refuses to
start without them, and writes no secret of its own.

Docker is not available here, so the test does compose's part: YAML anchors and merge keys (PyYAML), then
variable interpolation (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
``${VAR?error}``, ``$$``), innermost first as compose nests them.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from badbuzz.services.settings import Settings
from tests.deployments import VAR, Missing, compose, compose_service_env, resolve

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|API_KEYS")
def generated_env(tmp_path: Path) -> dict[str, str]:
    env_file = tmp_path / ".env"
    out = subprocess.run(["bash", str(ROOT / "deploy" / "secrets.sh"), str(env_file)], capture_output=True, text=True,
                         check=True)
    assert "API key for the communications team" in out.stdout
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    # running it again keeps every value (the database's password must not change under it)
    subprocess.run(["bash", str(ROOT / "deploy" / "secrets.sh"), str(env_file)], capture_output=True, check=True)
    assert dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line) == env
    env["BADBUZZ_AM_WEBHOOK_URL"] = "https://hooks.example.org/alertmanager"  # the user's own setting
    return env


def badbuzz_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in doc["services"].items()
            if "build" in svc and "Dockerfile" in svc["build"]["dockerfile"]}


def test_every_service_environment_is_valid_for_its_own_settings(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    env = generated_env(tmp_path)
    doc = resolve(compose(), env)
    services = badbuzz_services(doc)
    assert {"scorer", "alerter", "api", "replayer"} <= set(services)
    for name in services:
        variables = compose_service_env(name, env)
        for key in [k for k in os.environ if k.startswith("BADBUZZ_")]:
            monkeypatch.delenv(key)
        for key, value in variables.items():
            monkeypatch.setenv(key, value)
        settings = Settings()  # raises if compose hands the service something it refuses (the old empty secret)
        assert settings.database_url is not None and env["POSTGRES_PASSWORD"] in settings.resolved_database_url
        assert settings.redis_url is not None and settings.kafka_bootstrap == "kafka:9092", name
        if name == "alerter":
            assert settings.webhook_secret is not None
            assert settings.webhook_secret.get_secret_value() == env["BADBUZZ_WEBHOOK_SECRET"]
        if name == "api":
            assert settings.api_keys is not None and settings.api_keys.get_secret_value().startswith("comms:write:")


def test_compose_refuses_to_start_without_the_generated_secrets() -> None:
    with pytest.raises(Missing, match=r"run deploy/secrets\.sh"):
        resolve(compose(), {"BADBUZZ_AM_WEBHOOK_URL": "https://hooks.example.org/am"})


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for m in VAR.finditer(text):
        if SECRET_NAMES.search(m.group(1)):
            assert m.group(2) in (":?", "?"), f"${{{m.group(1)}}} has a default instead of being required"
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if SECRET_NAMES.search(key) and value.strip():
            assert value.strip().startswith("${"), f"a literal secret: {line.strip()}"


def test_a_blank_secret_reads_as_unset_and_a_weak_one_is_refused() -> None:
    assert Settings(webhook_secret="", kafka_bootstrap=None).webhook_secret is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="placeholder"):
        Settings(webhook_secret="changeme", kafka_bootstrap=None)  # type: ignore[arg-type]
