"""The HTTP API on SQLite with the same stores the services write: auth, scoring, topics, timelines, alerts,
acknowledgements, health and readiness, and malformed input answered with 4xx, never 5xx."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.models.serving.scoring import SentimentAndEmotion
from badbuzz.services.alerting.channels import ConsoleChannel, OutboxDispatcher
from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.alerting.webhook_channel import WebhookChannel
from badbuzz.services.api.app import build_app
from badbuzz.services.api.auth import find_key, new_key, parse_keys
from badbuzz.services.api.schemas import ScoreResponse
from badbuzz.services.settings import Settings
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.limits import TOPIC_MAX_CHARS
from tests.conftest import SAMPLE_TEXTS
from tests.seed import scored_minutes

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=3)
READ_KEY, READ_ENTRY = new_key("dashboard", "read")
WRITE_KEY, WRITE_ENTRY = new_key("comms-lead", "write")


def stream(store: ScoreStore, minutes: range, share: float, rng: random.Random) -> None:
    store.write(scored_minutes(T0, minutes, share, rng))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, tiny_emotion_model_dir: Path) -> TestClient:
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}"
    engine = make_engine(url)
    rng = random.Random(4)
    scores = ScoreStore(engine)
    stream(scores, range(0, 90), 0.2, rng)
    stream(scores, range(90, 100), 0.7, rng)
    stream(scores, range(100, 140), 0.2, rng)
    # two channels: the console (delivered below) and a webhook that never gets a chance (pending)
    channels = [ConsoleChannel(lambda _: None), WebhookChannel("https://hooks.example.org/services/T/B/token",
                                                                b"0123456789abcdef0123")]
    store = AlertStore(engine)
    # alerts kept open only ten minutes (not the default hour): the fixture's 40 calm minutes resolve it
    AlertService(store, DetectorConfig(alpha=1e-6, keep_firing_minutes=10), allowed_lateness=timedelta(seconds=30),
                 metrics=AlertMetrics(CollectorRegistry()), channels=channels, wall_clock=lambda: NOW).run_once()
    OutboxDispatcher(store, channels[:1], wall_clock=lambda: NOW).deliver_due()
    model = SentimentAndEmotion(OnnxSentimentModel(tiny_model_dir, device="cpu"),
                                OnnxSentimentModel(tiny_emotion_model_dir, device="cpu"), "all")
    # embedded mode whatever the environment says (make test exports the stack's Kafka for the whole run)
    settings = Settings(database_url=url, kafka_bootstrap=None, api_keys=SecretStr(f"{READ_ENTRY},{WRITE_ENTRY}"))
    return TestClient(build_app(settings, engine=engine, model=model, clock=lambda: NOW),
                      raise_server_exceptions=False)


def auth(key: str = READ_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_are_stored_hashed_and_checked() -> None:
    keys = parse_keys(f"{READ_ENTRY},{WRITE_ENTRY}")
    assert READ_KEY not in READ_ENTRY and [k.name for k in keys] == ["dashboard", "comms-lead"]
    assert find_key(keys, READ_KEY) == keys[0] and find_key(keys, WRITE_KEY) == keys[1]
    assert find_key(keys, READ_KEY + "x") is None
    with pytest.raises(ValueError):
        parse_keys("someone:admin:" + "0" * 64)


def test_v1_needs_a_key_and_writes_need_a_write_key(client: TestClient) -> None:
    assert client.get("/v1/topics").status_code == 401
    assert client.get("/v1/topics", headers=auth("bbz_wrong")).status_code == 401
    assert client.get("/v1/topics", headers={"X-API-Key": READ_KEY}).status_code == 200
    alert_id = client.get("/v1/alerts", headers=auth()).json()["alerts"][0]["id"]
    denied = client.post(f"/v1/alerts/{alert_id}/ack", json={"who": "Ana"}, headers=auth(READ_KEY))
    assert denied.status_code == 403 and "read-only" in denied.json()["detail"]
    assert client.get("/healthz").json() == {"status": "ok"}  # operations routes stay open


def test_a_text_with_an_unpaired_surrogate_is_a_422_that_quotes_it_back_escaped(client: TestClient) -> None:
    answer = client.post("/v1/score", content=b'{"text": "lost my bag \\ud83d again"}',
                         headers={**auth(), "Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "string_unicode"
    assert "\\ud83d" in answer.text  # escaped: the error body itself stays valid UTF-8


def test_score_one_text_or_a_batch_with_emotions(client: TestClient) -> None:
    one = client.post("/v1/score", json={"text": SAMPLE_TEXTS[0]}, headers=auth()).json()
    assert len(one["scores"]) == 1 and one["model_version"] and one["emotion_model"]
    s = one["scores"][0]
    assert s["label"] in s["probabilities"] and abs(sum(s["probabilities"].values()) - 1) < 1e-4
    assert sorted(s["emotions"]) == ["anger", "joy", "optimism", "sadness"]
    batch = client.post("/v1/score", json={"texts": SAMPLE_TEXTS}, headers=auth()).json()
    assert [x["text"] for x in batch["scores"]] == SAMPLE_TEXTS


def test_score_answers_are_exactly_the_documented_schema(client: TestClient) -> None:
    """The batch worker writes the JSON itself (services/api/app.py): it must stay the OpenAPI document's
    ScoreResponse, every field present, none extra, text that is not ASCII included."""
    texts = ["Vol annulé, bagage perdu 😡", SAMPLE_TEXTS[0]]
    r = client.post("/v1/score", json={"texts": texts}, headers=auth())
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    parsed = ScoreResponse.model_validate_json(r.content, strict=True)
    assert parsed.model_dump(mode="json") == body  # no field missing (defaults would fill it) and none extra
    assert [s.text for s in parsed.scores] == texts and r.content.isascii()
    schema = client.get("/openapi.json").json()["paths"]["/v1/score"]["post"]["responses"]["200"]
    assert schema["content"]["application/json"]["schema"]["$ref"].endswith("/ScoreResponse")


@pytest.mark.parametrize("body", [
    {}, {"text": ""}, {"text": "x" * 2_001}, {"texts": []}, {"texts": ["ok"] * 257}, {"text": "a", "texts": ["b"]},
    {"texts": "not a list"}, {"text": 42}, [1, 2], "null",
])
def test_bad_score_requests_are_422_not_500(client: TestClient, body: object) -> None:
    assert client.post("/v1/score", json=body, headers=auth()).status_code == 422


def test_topics_timeline_and_alert_lifecycle(client: TestClient) -> None:
    topics = {t["topic"]: t for t in client.get("/v1/topics", headers=auth()).json()}
    assert set(topics) == {"all", "baggage"}
    baggage = topics["baggage"]
    assert baggage["last_hour"]["tweets"] == 40 * 60 and 0.1 < baggage["baseline_share"] < 0.35
    assert baggage["status"] == "ok" and baggage["alert_id"] is None  # fired, then resolved
    tl = client.get("/v1/topics/baggage/timeline", params={"from": T0.isoformat(), "to": (T0 + timedelta(
        hours=2, minutes=20)).isoformat(), "step": 10}, headers=auth()).json()
    assert len(tl["points"]) == 14 and tl["points"][0]["tweets"] == 400
    spike = tl["points"][9]  # minutes 90-99
    assert spike["negative_share"] > 0.5 > tl["points"][3]["negative_share"]
    assert [a["state"] for a in tl["alerts"]] == ["resolved"]
    page = client.get("/v1/alerts", params={"topic": "baggage", "limit": 1}, headers=auth()).json()
    assert page["total"] == 1 and page["next_offset"] is None
    alert_id = page["alerts"][0]["id"]
    detail = client.get(f"/v1/alerts/{alert_id}", headers=auth()).json()
    assert {"luggage"} <= {t["term"] for t in detail["top_terms"]} and detail["examples"] and detail["acks"] == []
    # every transition's delivery per channel, the webhook named by its host only (its path is a credential)
    deliveries = {(d["transition"], d["channel"], d["state"]) for d in detail["deliveries"]}
    assert deliveries == {(t, c, s) for t in ("firing", "resolved") for c, s in
                          (("console", "delivered"), ("https://hooks.example.org/…", "pending"))}
    assert "token" not in json.dumps(detail)
    acked = client.post(f"/v1/alerts/{alert_id}/ack", json={"who": "Ana", "note": "handled with ops"},
                        headers=auth(WRITE_KEY))
    assert acked.status_code == 201
    assert [(a["who"], a["note"], a["key_name"]) for a in acked.json()["acks"]] == [
        ("Ana", "handled with ops", "comms-lead")]
    assert client.get(f"/v1/alerts/{alert_id}", headers=auth()).json()["acks"] == acked.json()["acks"]
    all_page = client.get("/v1/alerts", params={"limit": 1}, headers=auth()).json()
    assert all_page["total"] == 2 and all_page["next_offset"] == 1


@pytest.mark.parametrize("body", ['{"who": ""}', '{"who": "Ana\\u0000"}', '{"who": "Ana", "note": "\\ud800"}',
                                  '{"note": "x"}', '{"who": "' + "x" * 201 + '"}', '{"who": "Ana"'])
def test_bad_acks_are_422(client: TestClient, body: str) -> None:
    """Raw JSON text: a lone surrogate escape is valid JSON but not storable text (PostgreSQL refuses NUL)."""
    alert_id = client.get("/v1/alerts", headers=auth()).json()["alerts"][0]["id"]
    answer = client.post(f"/v1/alerts/{alert_id}/ack", content=body.encode(),
                         headers={**auth(WRITE_KEY), "Content-Type": "application/json"})
    assert answer.status_code == 422


@pytest.mark.parametrize("path,params", [
    ("/v1/alerts/nope", {}), ("/v1/topics/nope/timeline", {}),
])
def test_unknown_things_are_404(client: TestClient, path: str, params: dict[str, str]) -> None:
    assert client.get(path, params=params, headers=auth()).status_code == 404
    assert client.post("/v1/alerts/nope/ack", json={"who": "Ana"}, headers=auth(WRITE_KEY)).status_code == 404


@pytest.mark.parametrize("params", [
    {"step": 0}, {"step": "x"}, {"from": "yesterday"}, {"from": NOW.isoformat(), "to": T0.isoformat()},
    {"from": "2000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "step": 1},
])
def test_bad_timeline_queries_are_422(client: TestClient, params: dict[str, object]) -> None:
    assert client.get("/v1/topics/baggage/timeline", params=params, headers=auth()).status_code == 422


def test_readiness_metrics_and_openapi(client: TestClient) -> None:
    ready = client.get("/readyz").json()
    assert ready == {"ready": True, "checks": {"database": "ok", "model": "ok"}}
    series = ('badbuzz_api_requests_total{route="/v1/topics",status="200"}',
              'badbuzz_api_requests_total{route="/v1/topics",status="401"}',  # refused ones count too
              'badbuzz_api_requests_total{route="unmatched",status="404"}',
              'badbuzz_api_request_seconds_count{route="/v1/topics"}')

    def counts() -> list[float]:  # the client is shared with other tests: compare before and after
        lines = dict(line.rsplit(" ", 1) for line in client.get("/metrics").text.splitlines()
                     if line and not line.startswith("#"))
        return [float(lines.get(name, 0)) for name in series]

    before = counts()
    assert client.get("/v1/topics", headers=auth()).status_code == 200
    assert client.get("/v1/topics").status_code == 401
    assert client.get("/no/such/path").status_code == 404
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [1, 1, 1, 2]
    spec = client.get("/openapi.json").json()
    assert {"/v1/score", "/v1/topics", "/v1/topics/{topic}/timeline", "/v1/alerts", "/v1/alerts/{alert_id}",
            "/v1/alerts/{alert_id}/ack", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_ingest_publishes_the_validators_record_schema(client: TestClient) -> None:
    """``POST /v1/ingest``'s records are documented by the model that validates them in the scorer."""
    spec = client.get("/openapi.json").json()
    body = spec["components"]["schemas"]["IngestRequest"]["properties"]["records"]
    record = body["items"]
    assert record["required"] == ["id", "text", "created_at"]
    assert set(record["properties"]) == {"id", "text", "created_at", "user", "lang", "topics"}
    assert record["properties"]["topics"]["items"]["maxLength"] == TOPIC_MAX_CHARS


def test_readiness_names_what_does_not_answer(tmp_path: Path) -> None:
    def kafka_down() -> None:
        raise ConnectionError("no broker at 127.0.0.1:9\nsecond line")

    url = f"sqlite:///{tmp_path / 'r.db'}"
    app = build_app(Settings(database_url=url, model_dir=tmp_path / "nowhere", emotions="off"),
                    engine=make_engine(url), kafka_check=kafka_down)
    ready = TestClient(app).get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"] == "ok" and checks["kafka"] == "error: ConnectionError: no broker at 127.0.0.1:9"
    assert checks["model"].startswith("error: InvalidModelDir")
