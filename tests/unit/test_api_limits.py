"""The API's own protection (issue 27): bodies are capped before they are read and before authentication,
and ``/readyz`` is cheap (one check per window, one Kafka admin client kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from badbuzz.services.api.app import build_app
from badbuzz.services.api.auth import new_key
from badbuzz.services.settings import Settings
from badbuzz.services.storage.scores import make_engine

WRITE_KEY, WRITE_ENTRY = new_key("ingester", "write")


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def api(tmp_path: Path) -> tuple[TestClient, Counting]:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    kafka = Counting()
    settings = Settings(database_url=url, kafka_bootstrap=None, api_keys=SecretStr(WRITE_ENTRY),
                        api_max_body_bytes=256 * 1024, model_dir=tmp_path / "nowhere", emotions="off")
    app = build_app(settings, engine=make_engine(url), kafka_check=kafka)
    return TestClient(app, raise_server_exceptions=False), kafka


def test_an_oversized_body_is_refused_before_authentication(api: tuple[TestClient, Counting]) -> None:
    """No key at all: before, FastAPI read and parsed the whole body, then answered 401."""
    client, _ = api
    body = json.dumps({"records": [{"id": str(i), "text": "x" * 1000} for i in range(1000)]})
    r = client.post("/v1/ingest", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over 262144 bytes" in r.json()["detail"]


def test_an_authorised_oversized_ingest_is_refused(api: tuple[TestClient, Counting]) -> None:
    """1,000 records of 64 kB, with a valid write key: before, all of it was read and accepted."""
    client, _ = api
    body = json.dumps({"records": [{"id": str(i), "text": "x" * 64_000} for i in range(1000)]})
    r = client.post("/v1/ingest", content=body, headers={"Authorization": f"Bearer {WRITE_KEY}",
                                                          "content-type": "application/json"})
    assert r.status_code == 413


def test_a_chunked_body_is_cut_off_at_the_cap(api: tuple[TestClient, Counting]) -> None:
    """No Content-Length (chunked): counted as it streams in and refused once past the cap."""
    client, _ = api

    def chunks() -> object:
        for _ in range(100):
            yield b"x" * 10_000

    r = client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})  # type: ignore[arg-type]
    assert r.status_code == 413


def test_the_login_form_takes_a_key_not_megabytes(api: tuple[TestClient, Counting]) -> None:
    client, _ = api
    r = client.post("/ui/login", content=b"key=" + b"a" * 100_000,
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_bodies_under_the_cap_go_through(api: tuple[TestClient, Counting]) -> None:
    client, _ = api
    r = client.post("/v1/ingest", json={"records": [{"id": "1", "text": "x"}]})
    assert r.status_code == 401  # reached authentication


def test_readiness_is_checked_once_per_window(api: tuple[TestClient, Counting]) -> None:
    """Twenty probes in a burst: one round of checks (before: twenty Kafka admin clients)."""
    client, kafka = api
    answers = [client.get("/readyz") for _ in range(20)]
    assert {r.status_code for r in answers} == {503}  # the model directory is missing, and says so
    assert kafka.calls == 1
