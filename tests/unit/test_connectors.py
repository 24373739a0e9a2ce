"""The connectors against local servers that speak each API's real protocol, fed with payloads shaped as in
each API's public documentation (tests/data/connectors/README.md names the sources).

- Bluesky: a WebSocket server of this test acting as Jetstream (``/subscribe``, ``wantedCollections``,
  ``cursor`` in unix microseconds), which drops the connection once mid-stream.
- X: an HTTP server acting as the v2 filtered stream: rule endpoints with state, then a stream answered with a
  429 and its ``x-rate-limit-reset``, a chunked stream with keep-alive newlines that is cut, and a 503.
- JSON lines and ``POST /v1/ingest`` with good and bad records.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_client import CollectorRegistry

from badbuzz.stream.scoring.validation import ValidationLimits
from badbuzz.stream.sources.bluesky import REWIND_US, PostFilter, map_event, subscribe_url
from badbuzz.stream.sources.bluesky_client import CursorFile, run_bluesky
from badbuzz.stream.sources.jsonl import ingest_lines
from badbuzz.stream.sources.sink import ConnectorMetrics, RawSink
from badbuzz.stream.sources.x import Backoff, map_tweet, rule_changes
from badbuzz.stream.sources.x_client import XAccessRefused, XApi, run_x

DATA = Path(__file__).resolve().parents[1] / "data" / "connectors"
JETSTREAM = [json.loads(line) for line in (DATA / "jetstream_events.jsonl").read_text().splitlines()]
ROOT = Path(__file__).resolve().parents[2]
X_STREAM = (DATA / "x_stream.jsonl").read_text().splitlines()
BRAND = PostFilter(keywords=("air paradis",), handles=("airparadis.bsky.social",))


def sink_at(now: datetime, connector: str) -> tuple[RawSink, io.StringIO]:
    out = io.StringIO()
    return RawSink(ConnectorMetrics(CollectorRegistry(), connector), ValidationLimits(), out=out,
                   now=lambda: now), out


def printed(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


# ------------------------------------------------------------------------------------------ Bluesky
def test_jetstream_events_map_to_the_contract() -> None:
    mapped = [map_event(e, BRAND) for e in JETSTREAM]
    posts = [m.tweet for m in mapped if m.tweet is not None]
    assert [p.id for p in posts] == [
        "at://did:plc:q6gjnaw2blty4crticxkmujt/app.bsky.feed.post/3l3qo2vuowo3a",
        "at://did:plc:bbbbbbbbbbbbbbbbbbbbbbbb/app.bsky.feed.post/3l3qo2vuowo3c",  # the handle, mentioned
        "at://did:plc:cccccccccccccccccccccccc/app.bsky.feed.post/3l3qo2vuowo3d",
        "at://did:plc:dddddddddddddddddddddddd/app.bsky.feed.post/3l3qo2vuowo3e",  # keyword, any case
    ]
    assert posts[0].created_at == datetime(2024, 9, 9, 19, 46, 3, tzinfo=UTC) and posts[1].lang == "fr"
    assert posts[0].user == "did:plc:q6gjnaw2blty4crticxkmujt"
    assert sum(m.filtered for m in mapped) == 1  # the sunset post: about something else
    assert mapped[-2].cursor_us is None  # the heartbeat carries no cursor
    only_fr = PostFilter(keywords=("air paradis",), handles=("airparadis.bsky.social",), langs=("fr",))
    assert [m.tweet.lang for e in JETSTREAM if (m := map_event(e, only_fr)).tweet] == ["fr"]
    by_did = PostFilter(dids=("did:plc:airparadis0000000000000",))
    assert len([e for e in JETSTREAM if map_event(e, by_did).tweet]) == 1
    with pytest.raises(ValueError):
        map_event({"kind": "commit", "commit": {"collection": "app.bsky.feed.post", "operation": "create"}}, BRAND)
    assert subscribe_url("wss://h/subscribe", 1_000_000_000) == (
        f"wss://h/subscribe?wantedCollections=app.bsky.feed.post&cursor={1_000_000_000 - REWIND_US}")


class FakeJetstream:
    """Jetstream on a local WebSocket: replays JETSTREAM from the requested cursor; the first connection is
    dropped after ``drop_after`` frames."""

    def __init__(self, drop_after: int | None = 5, events: list[dict[str, Any]] | None = None,
                 tail_s: float = 30, pace_s: float = 0.0) -> None:
        self.drop_after = drop_after
        self.tail_s = tail_s
        self.pace_s = pace_s  # a pause after each event: a live feed, not a replay at full speed
        self.events = JETSTREAM if events is None else events
        self.connections: list[dict[str, list[str]]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)

    def _run(self) -> None:
        import websockets

        async def handler(ws: Any) -> None:
            query = parse_qs(urlsplit(ws.request.path).query)
            assert urlsplit(ws.request.path).path == "/subscribe"
            self.connections.append(query)
            cursor = int(query.get("cursor", ["0"])[0])
            sent = 0
            for event in self.events:
                if event.get("time_us", cursor) < cursor:
                    continue
                await ws.send(json.dumps(event))
                sent += 1
                if self.pace_s:
                    await asyncio.sleep(self.pace_s)
                if len(self.connections) == 1 and sent == self.drop_after:
                    await ws.close(code=1011, reason="going away")  # the first connection drops mid-stream
                    return
            await asyncio.sleep(self.tail_s)  # then live-tail silence

        async def main() -> None:
            async with websockets.serve(handler, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                self._loop = asyncio.get_running_loop()
                self._ready.set()
                await asyncio.Future()

        asyncio.run(main())

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/subscribe"


def test_bluesky_resumes_from_its_cursor_after_a_dropped_connection(tmp_path: Path) -> None:
    server = FakeJetstream(drop_after=5)
    sink, out = sink_at(datetime(2024, 9, 9, 20, 0, tzinfo=UTC), "bluesky")
    cursor = CursorFile(tmp_path / "bluesky.cursor")
    started = time.monotonic()

    def done() -> bool:
        return len({t["id"] for t in printed(out)}) >= 4 or time.monotonic() - started > 20

    asyncio.run(run_bluesky(server.url, BRAND, sink, cursor, stop=done, save_every=1, idle_timeout_s=5))
    ids = [t["id"] for t in printed(out)]
    assert len(server.connections) == 2, server.connections  # dropped once, reconnected once
    assert "cursor" in server.connections[1]  # resumed, not live-tail
    resumed_from = int(server.connections[1]["cursor"][0])
    assert resumed_from <= 1725911162334000 - REWIND_US + 1  # rewound before the last event handed on
    assert len(set(ids)) == 4  # no gap: every matching post, duplicates only from the rewind
    assert sink.metrics.reconnects._value.get() == 1 and sink.metrics.filtered._value.get() >= 1
    assert cursor.load() is not None and cursor.load() >= 1725911162336000  # type: ignore[operator]
    print(f"[measure] bluesky: {len(ids)} records ({len(set(ids))} distinct) over 2 connections, resumed from "
          f"cursor {resumed_from}")


# ------------------------------------------------------------------------------------------------ X
def test_x_payloads_map_and_rules_sync_idempotently() -> None:
    tweets = [map_tweet(json.loads(line)) for line in X_STREAM]
    assert [t.id if t else None for t in tweets] == ["1197592283286970369", "1197592396629684224", None,
                                                     "1197592615597998080"]
    assert tweets[0] is not None and tweets[0].user == "XDevelopers" and tweets[0].lang == "en"
    existing = json.loads((DATA / "x_rules.json").read_text())["data"]
    add, delete = rule_changes(existing, ['"air paradis" OR @airparadis'])
    assert add == [{"value": '"air paradis" OR @airparadis', "tag": "badbuzz:0"}]
    assert delete == ["1166895166390583297"]  # ours, no longer wanted; "cat has:media" is not ours
    again = [r for r in existing if r["id"] not in delete] + [{"id": "9", **add[0]}]
    assert rule_changes(again, ['"air paradis" OR @airparadis']) == ([], [])


def test_x_rules_come_from_the_topics_file_and_their_tweets_carry_the_topic() -> None:
    """The followed topic becomes a rule tagged with its name; a tweet it brings carries that topic; the sink
    adds every topic whose rules match and drops topics the file does not define (counted)."""
    from badbuzz.stream.scoring.topics import EXAMPLE_TOPICS, TopicMatcher

    matcher = TopicMatcher.from_file(EXAMPLE_TOPICS)
    existing = json.loads((DATA / "x_rules.json").read_text())["data"]
    add, delete = rule_changes(existing, matcher.x_rules())
    assert delete == ["1166895166390583297"]  # our numbered rule of before: replaced by the topic's
    assert [a["tag"] for a in add] == ["badbuzz:air-paradis"] and "@airparadis" in add[0]["value"]
    retagged = rule_changes([{"id": "7", "value": add[0]["value"], "tag": "badbuzz:0"}], matcher.x_rules())
    assert retagged == (add, ["7"])  # same rule, tag without its topic: replaced
    payload = json.loads(X_STREAM[0])
    payload["matching_rules"] = [{"id": "1", "tag": "badbuzz:air-paradis"}, {"id": "2", "tag": "cats"},
                                 {"id": "3", "tag": "badbuzz:vip"}]
    tweet = map_tweet(payload)
    assert tweet is not None and tweet.topics == ("air-paradis", "vip")
    metrics = ConnectorMetrics(CollectorRegistry(), "x")
    out = io.StringIO()
    sink = RawSink(metrics, ValidationLimits(), out=out, topics=matcher, now=lambda: tweet.created_at)
    assert sink.put(tweet) is None
    assert printed(out)[0]["topics"] == ["all", "air-paradis", "delays"]  # "cancelled my flight"
    assert metrics.topics_dropped._value.get() == 1  # 'vip' is not in the file


def test_x_backoff_follows_the_documented_policy() -> None:
    b = Backoff()
    assert [b.next("network") for _ in range(3)] == [0.25, 0.5, 0.75]
    assert max(b.next("network") for _ in range(100)) == 16.0
    assert [b.next("http") for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]
    assert [b.next("rate_limited") for _ in range(2)] == [60, 120]
    b.reset()
    assert b.next("rate_limited", now=1000.0, reset_at=1900.0) == 900.0  # never before the reset


class FakeX:
    """The X API v2 filtered stream on a local HTTP server."""

    def __init__(self) -> None:
        self.rules: list[dict[str, str]] = [{"id": "1166895166390583296", "value": "cat has:media", "tag": "cats"}]
        self.rule_posts: list[dict[str, Any]] = []
        self.stream_calls = 0
        self.auth: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                outer.auth.append(self.headers.get("Authorization", ""))
                path = urlsplit(self.path).path
                if path == "/2/tweets/search/stream/rules":
                    self._json(200, {"data": outer.rules, "meta": {"sent": "2019-08-29T01:12:10.729Z"}})
                    return
                assert path == "/2/tweets/search/stream"
                outer.stream_calls += 1
                if outer.stream_calls == 1:  # rate limited, reset in 2 s
                    self._json(429, {"title": "Too Many Requests"}, {"x-rate-limit-reset": str(int(time.time()) + 2)})
                    return
                if outer.stream_calls == 3:
                    self._json(503, {"title": "Service Unavailable"})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                lines = X_STREAM[:2] if outer.stream_calls == 2 else X_STREAM[2:]
                for line in ["", *lines[:1], "", *lines[1:]]:  # keep-alive newlines between payloads
                    chunk = (line + "\r\n").encode()
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                self.close_connection = True  # cut without the final chunk: a dropped connection

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.rule_posts.append(body)
                if "delete" in body:
                    outer.rules = [r for r in outer.rules if r["id"] not in body["delete"]["ids"]]
                    self._json(200, {"meta": {"summary": {"deleted": len(body["delete"]["ids"])}}})
                    return
                for i, rule in enumerate(body["add"]):
                    outer.rules.append({"id": f"17{len(outer.rules)}{i}", **rule})
                self._json(201, {"data": outer.rules[-len(body["add"]):], "meta": {"summary": {"created": 1}}})

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


def test_x_stream_rules_keepalive_429_and_reconnects() -> None:
    server = FakeX()
    sink, out = sink_at(datetime(2019, 11, 21, 22, 0, tzinfo=UTC), "x")
    waits: list[float] = []
    api = XApi(server.url, "test-bearer-token")
    run_x(api, ['"air paradis" OR @airparadis'], sink, sleep=waits.append,
          stop=lambda: server.stream_calls >= 4 and len(printed(out)) >= 3)
    assert [t["id"] for t in printed(out)] == ["1197592283286970369", "1197592396629684224", "1197592615597998080"]
    assert {r["value"] for r in server.rules} == {"cat has:media", '"air paradis" OR @airparadis'}
    assert api.sync_rules(['"air paradis" OR @airparadis']) == (0, 0)  # idempotent: nothing to change
    assert all(a == "Bearer test-bearer-token" for a in server.auth)
    # 429: at least until the reset (2 s), the documented 60 s otherwise; the cut stream: a network retry
    # (250 ms); the 503: an HTTP retry (5 s)
    assert waits[0] >= 1 and waits[1] == 0.25 and waits[2] == 5
    print(f"[measure] x: {len(printed(out))} tweets over {server.stream_calls} stream connections; waits {waits}")


def test_x_refused_token_stops_with_a_clear_error_instead_of_retrying() -> None:
    """A 401 (X's documented ``Unauthorized`` problem) cannot be fixed by waiting: no retry loop, one message."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"title": "Unauthorized", "type": "about:blank", "status": 401,
                               "detail": "Unauthorized"}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink, _ = sink_at(datetime(2019, 11, 21, 22, 0, tzinfo=UTC), "x")
    waits: list[float] = []
    try:
        with pytest.raises(XAccessRefused, match="HTTP 401"):
            run_x(XApi(f"http://127.0.0.1:{server.server_port}", "revoked"), ["@airparadis"], sink,
                  sleep=waits.append)
    finally:
        server.shutdown()
    assert waits == []


# --------------------------------------------------------------------------------------- JSON lines
def test_jsonl_accepts_good_lines_and_names_the_bad_ones() -> None:
    now = datetime.now(UTC)
    sink, out = sink_at(now, "jsonl")
    good = {"id": "j1", "text": "Air Paradis lost my bag", "created_at": now.isoformat()}
    lines = [json.dumps(good).encode(), b"", b"not json", json.dumps({"id": "j2"}).encode(),
             json.dumps({**good, "id": "j3", "created_at": (now - timedelta(days=400)).isoformat()}).encode()]
    errors = io.StringIO()
    assert ingest_lines(lines, sink, errors) == (1, 3)
    assert [t["id"] for t in printed(out)] == ["j1"]
    report = errors.getvalue().splitlines()
    assert [r.split(":")[0] for r in report] == ["line 3", "line 4", "line 5"]
    assert report[0].startswith("line 3: decode:") and report[1] == "line 4: schema: field 'text' is missing"
    assert report[2].startswith("line 5: stale_event_time:")


@pytest.fixture
def ingest_client(tmp_path: Path, tiny_model_dir: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from badbuzz.models.serving.inference import OnnxSentimentModel
    from badbuzz.services.api.app import build_app
    from badbuzz.services.api.auth import new_key
    from badbuzz.services.settings import Settings

    write, write_entry = new_key("connector", "write")
    read, read_entry = new_key("viewer", "read")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ingest.db'}", kafka_bootstrap=None,
                        api_keys=SecretStr(f"{write_entry},{read_entry}"), emotions="off")
    client = TestClient(build_app(settings, model=OnnxSentimentModel(tiny_model_dir, device="cpu")))
    yield client, write, read


def test_post_ingest_validates_like_the_scorer_and_stores_in_embedded_mode(ingest_client: Any) -> None:
    client, write, read = ingest_client
    now = datetime.now(UTC).isoformat()
    records = [{"id": "a1", "text": "Air Paradis lost my bag", "created_at": now},
               {"id": "a2", "text": "", "created_at": now},
               {"id": "a3", "text": "great crew", "created_at": "not a date"},
               {"id": "a4", "text": "on time for once", "created_at": now, "lang": "en"},
               {"id": 1197592283286970369, "text": "an integer id, as some exports write it", "created_at": now},
               {"id": "a6", "text": "a lone surrogate \ud800 in the text", "created_at": now}]
    r = client.post("/v1/ingest", content=json.dumps({"records": records}),  # ASCII JSON: the surrogate escaped
                    headers={"Authorization": f"Bearer {write}", "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["accepted"] == 3 and doc["destination"] == "store"
    assert [x["index"] for x in doc["refused"]] == [1, 2, 5]
    assert client.post("/v1/ingest", json={"records": records[:1]}, headers={"Authorization": f"Bearer {read}"}
                       ).status_code == 403
    assert client.post("/v1/ingest", json={"records": records[:1]}).status_code == 401
    assert client.post("/v1/ingest", json={"records": []}, headers={"Authorization": f"Bearer {write}"}
                       ).status_code == 422
    too_many = [records[0]] * 1001
    assert client.post("/v1/ingest", json={"records": too_many}, headers={"Authorization": f"Bearer {write}"}
                       ).status_code == 422
    topics = client.get("/v1/topics", headers={"Authorization": f"Bearer {read}"}).json()
    assert sum(t["last_minute"]["tweets"] for t in topics if t["topic"] == "all") == 3  # scored and stored
