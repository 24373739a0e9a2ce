"""The live page (services/api/page.py) on SQLite: sign-in, the board's tiles, timeline and firing alerts,
acknowledging from the page, and the guards on it (cookie only, write key, the page's own header).

The page in a real browser against the real PostgreSQL: tests/integration/test_live_page_browser.py.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.api.app import build_app
from badbuzz.services.api.auth import new_key
from badbuzz.services.api.chart import Band, timeline_svg
from badbuzz.services.api.queries import Bucket
from badbuzz.services.settings import Settings
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.stream.detection.detector import DetectorConfig
from tests.seed import scored_minutes

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)
READ_KEY, READ_ENTRY = new_key("wall-screen", "read")
WRITE_KEY, WRITE_ENTRY = new_key("comms-lead", "write")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def app(tmp_path: Path, tiny_model_dir: Path) -> TestClient:
    url = f"sqlite:///{tmp_path / 'page.db'}"
    engine = make_engine(url)
    rng = random.Random(7)
    scores = ScoreStore(engine)
    scores.write(scored_minutes(T0, range(0, 90), 0.2, rng))
    scores.write(scored_minutes(T0, range(90, 105), 0.75, rng))  # a bad buzz, still going
    AlertService(AlertStore(engine), DetectorConfig(alpha=1e-6), allowed_lateness=timedelta(seconds=30),
                 metrics=AlertMetrics(CollectorRegistry()), wall_clock=lambda: NOW).run_once()
    settings = Settings(database_url=url, kafka_bootstrap=None, api_keys=SecretStr(f"{READ_ENTRY},{WRITE_ENTRY}"))
    model = OnnxSentimentModel(tiny_model_dir, device="cpu")
    return TestClient(build_app(settings, engine=engine, model=model, clock=lambda: NOW),
                      raise_server_exceptions=False)


def sign_in(client: TestClient, key: str) -> None:
    r = client.post("/ui/login", content=f"key={key}", follow_redirects=False,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_without_a_key_the_page_asks_for_one_and_the_board_is_closed(app: TestClient) -> None:
    r = app.get("/")
    assert r.status_code == 200 and 'name="key"' in r.text and "Active alerts" not in r.text
    assert app.get("/ui/board").status_code == 401
    bad = app.post("/ui/login", content="key=nope", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 401 and "not valid" in bad.text


def test_the_board_shows_tiles_the_timeline_and_the_firing_alert(app: TestClient) -> None:
    sign_in(app, READ_KEY)
    page = app.get("/")
    assert page.status_code == 200 and "/static/page.js" in page.text and "wall-screen" in page.text
    assert app.get("/static/page.js").status_code == 200
    board = app.get("/ui/board")
    assert board.status_code == 200
    html = board.text
    alert = app.get("/v1/alerts?state=firing", headers={"Authorization": f"Bearer {READ_KEY}"}).json()["alerts"][0]
    assert f'data-alert-id="{alert["id"]}"' in html
    assert "Bad buzz on" in html and "BAD BUZZ" in html  # the explanation and the red tile
    assert 'class="examples"' in html
    assert 'form class="ack"' not in html  # a read key sees no acknowledge form
    svg = html[html.index("<svg"):html.index("</svg>") + 6]
    root = ET.fromstring(svg)  # well-formed XML
    bands = [e for e in root.iter(f"{SVG}rect") if "alert-band" in e.get("class", "")]
    assert [b.get("data-alert-id") for b in bands] == [alert["id"]]


def test_acknowledging_from_the_page_needs_a_write_key_and_the_pages_header(app: TestClient) -> None:
    alert_id = app.get("/v1/alerts?state=firing", headers={"Authorization": f"Bearer {READ_KEY}"}
                       ).json()["alerts"][0]["id"]
    body = {"who": "Léa", "note": "statement drafted"}
    sign_in(app, READ_KEY)
    assert app.post(f"/ui/alerts/{alert_id}/ack", json=body, headers={"X-Badbuzz-UI": "1"}).status_code == 403
    sign_in(app, WRITE_KEY)
    assert 'form class="ack"' in app.get("/ui/board").text
    assert app.post(f"/ui/alerts/{alert_id}/ack", json=body).status_code == 403  # e.g. a cross-site form post
    assert app.post("/ui/alerts/none/ack", json=body, headers={"X-Badbuzz-UI": "1"}).status_code == 404
    assert app.post(f"/ui/alerts/{alert_id}/ack", json={"who": ""}, headers={"X-Badbuzz-UI": "1"}).status_code == 422
    r = app.post(f"/ui/alerts/{alert_id}/ack", json=body, headers={"X-Badbuzz-UI": "1"})
    assert r.status_code == 204
    assert "Acknowledged by <b>Léa</b>" in app.get("/ui/board").text
    acks = app.get(f"/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {READ_KEY}"}).json()["acks"]
    assert [(a["who"], a["note"], a["key_name"]) for a in acks] == [("Léa", "statement drafted", "comms-lead")]


def test_a_key_in_the_link_signs_in_and_leaves_the_address(app: TestClient) -> None:
    r = app.get(f"/?key={WRITE_KEY}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert app.get("/ui/board").status_code == 200
    assert app.get("/?key=wrong").status_code == 401


def test_text_from_tweets_is_escaped(app: TestClient, tmp_path: Path) -> None:
    import json
    import sqlite3

    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with sqlite3.connect(tmp_path / "page.db") as conn:
        conn.execute("UPDATE alerts SET examples = ?", (json.dumps([{"id": "1", "text": hostile}]),))
    sign_in(app, READ_KEY)
    html = app.get("/ui/board").text
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>" not in html and "<img" not in html


def test_timeline_svg_marks_alerts_breaks_gaps_and_escapes() -> None:
    start = T0
    points = [Bucket(start + timedelta(minutes=5 * i), 10 if i != 3 else 0, 2 if i < 6 else 8) for i in range(12)]
    bands = [Band("a<1>", start + timedelta(minutes=30), None), Band("b", start, start + timedelta(minutes=10))]
    svg = timeline_svg(points, bands, start, start + timedelta(hours=1), timedelta(minutes=5), 0.2, "t & <x>")
    root = ET.fromstring(svg)
    lines = [e for e in root.iter(f"{SVG}polyline")]
    assert len(lines) == 2  # the empty bucket splits the line
    assert sum(len(line.get("points", "").split()) for line in lines) == 11
    classes = [e.get("class") for e in root.iter(f"{SVG}rect")]
    assert classes.count("alert-band firing") == 1 and classes.count("alert-band resolved") == 1
    assert root.find(f"{SVG}title").text == "t & <x>"  # type: ignore[union-attr]
    firing = next(e for e in root.iter(f"{SVG}rect") if e.get("class") == "alert-band firing")
    assert float(firing.get("x", 0)) + float(firing.get("width", 0)) == pytest.approx(960 - 12, abs=0.2)


def test_the_board_puts_the_worst_alert_first_and_the_api_says_how_bad(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Two alerts firing: a small one that fired last and a critical one that fired first. The board lists the
    critical one first; the API gives each its severity and what its baseline stood on."""
    from badbuzz.stream.detection.detector import TopicState
    from badbuzz.stream.detection.event import AlertEvent

    url = f"sqlite:///{tmp_path / 'sev.db'}"
    engine = make_engine(url)
    store = AlertStore(engine)

    def event(topic: str, fired: datetime, severity: str) -> AlertEvent:
        return AlertEvent(f"{topic}-x", topic, "firing", fired, fired - timedelta(minutes=30), fired, 0.6, 0.3, 400,
                          1e-9, severity=severity, history_minutes=9000, baseline_note="6.2 days of history")

    store.save_state("baggage", TopicState(), NOW, [event("baggage", T0 + timedelta(minutes=10), "critical")])
    store.save_state("delays", TopicState(), NOW, [event("delays", T0 + timedelta(minutes=50), "moderate")])
    settings = Settings(database_url=url, kafka_bootstrap=None, api_keys=SecretStr(f"{READ_ENTRY},{WRITE_ENTRY}"))
    client = TestClient(build_app(settings, engine=engine, model=OnnxSentimentModel(tiny_model_dir, device="cpu"),
                                  clock=lambda: NOW), raise_server_exceptions=False)
    sign_in(client, READ_KEY)
    html = client.get("/ui/board").text
    assert html.index('data-severity="critical"') < html.index('data-severity="moderate"')
    alerts = client.get("/v1/alerts?state=firing", headers={"Authorization": f"Bearer {READ_KEY}"}).json()["alerts"]
    assert {a["topic"]: a["severity"] for a in alerts} == {"baggage": "critical", "delays": "moderate"}
    assert all(a["baseline_note"] == "6.2 days of history" and a["history_minutes"] == 9000 for a in alerts)
