"""The FastAPI application: ``build_app(settings)``; OpenAPI at ``/docs`` and ``/openapi.json``.

Every ``/v1`` route needs an API key (``Authorization: Bearer <key>`` or ``X-API-Key``): 401 without a valid
one, 403 when a read-only key tries to write. Bad input is a 422 with the field at fault, never a 500;
``/healthz`` says the process is alive, ``/readyz`` whether the database, Kafka (when configured) and the
model answer, ``/metrics`` is Prometheus's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import Engine

from badbuzz.models.serving.routing import as_router
from badbuzz.services.api import queries
from badbuzz.services.api.auth import ApiKey, Role, find_key, parse_keys
from badbuzz.services.api.batching import BatchMetrics, DynamicBatcher, Overloaded
from badbuzz.services.api.body_limit import BodyLimit
from badbuzz.services.api.ingestion import Ingestion
from badbuzz.services.api.readiness import Readiness, ReadinessProbe
from badbuzz.services.api.request_metrics import RequestMetrics
from badbuzz.services.api.schemas import (
    Ack,
    AckRequest,
    Alert,
    AlertDetail,
    AlertMark,
    AlertPage,
    Delivery,
    IngestRefusal,
    IngestRequest,
    IngestResult,
    ScoreRequest,
    ScoreResponse,
    Timeline,
    TimelinePoint,
    TopicStatus,
)
from badbuzz.services.heap import settle_heap
from badbuzz.services.settings import Settings
from badbuzz.services.storage.tables import AlertAckRow, AlertRow
from badbuzz.stream.limits import TOPIC_MAX_CHARS

log = logging.getLogger(__name__)
API_LANE_NICE = 10  # the ONNX lanes' niceness in the API unless BADBUZZ_ONNX_LANE_NICE says otherwise
LOGIN_MAX_BYTES = 4096  # the login form holds one API key
MAX_TIMELINE_BUCKETS = 10_000
TopicName = Annotated[str, Path(min_length=1, max_length=TOPIC_MAX_CHARS)]
AlertId = Annotated[str, Path(min_length=1, max_length=200)]


def _dumps(content: Any) -> str:
    """JSON with non-ASCII escaped: a text holding an unpaired surrogate (valid in JSON as an escape, not
    encodable as UTF-8) is echoed back as ``\\udXXX`` instead of failing the response with a 500."""
    return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


class SafeJSONResponse(JSONResponse):
    """Every JSON answer of the API, written by :func:`_dumps`."""

    def render(self, content: Any) -> bytes:
        return _dumps(content).encode("ascii")


# -------------------------------------------------------------------------------------------------- app
def build_app(settings: Settings, *, engine: Engine | None = None, model: Any = None,
              registry: CollectorRegistry | None = None,
              kafka_check: Callable[[], None] | None = None,
              clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    """The API over ``settings``' database and models. ``model`` (a SentimentAndEmotion) is loaded on first
    use when not given; ``engine`` defaults to the settings' database."""
    from badbuzz.services.storage.scores import make_engine

    db = engine or make_engine(settings.resolved_database_url, wait_s=settings.database_wait_s)
    keys = parse_keys(settings.api_keys.get_secret_value() if settings.api_keys else "")
    if not keys:
        log.warning("no API keys configured (BADBUZZ_API_KEYS): every /v1 route answers 401. Make one with "
                    "`badbuzz api-key NAME --role write`")
    reg = registry or CollectorRegistry()
    requests = Counter("badbuzz_api_requests", "API requests", ["route", "status"], registry=reg)
    latency = Histogram("badbuzz_api_request_seconds", "API request latency", ["route"], registry=reg)
    config = settings.detector_config()
    loaded: dict[str, Any] = {"model": model}

    def get_model() -> Any:
        if loaded["model"] is None:
            from badbuzz.services.scorer import load_model

            # no spinning: between two requests ONNX Runtime's idle threads would take the cores that parse,
            # validate and answer them (1.4 cores for 106 single-text requests a second, issue 29)
            # (unless BADBUZZ_ONNX_SPINNING says otherwise)
            quiet: dict[str, Any] = {} if "onnx_spinning" in settings.model_fields_set else {"onnx_spinning": False}
            # and lanes that yield a core to the event loop the moment it wakes (models/serving/inference.py)
            quiet |= {} if "onnx_lane_nice" in settings.model_fields_set else {"onnx_lane_nice": API_LANE_NICE}
            loaded["model"] = load_model(settings.model_copy(update=quiet))
            settle_heap()  # a full GC pass over the model's objects stopped the event loop for up to 95 ms
        return loaded["model"]

    app = FastAPI(title="Bad Buzz Watch API", version="1", default_response_class=SafeJSONResponse,
                  description="Tweet sentiment scoring, topic status and bad-buzz alerts for a brand's "
                              "communications team.")
    app.add_middleware(RequestMetrics, requests=requests, latency=latency)
    # outermost: bodies are capped before anything reads them (FastAPI parses a body before auth runs)
    app.add_middleware(BodyLimit, default=settings.api_max_body_bytes, per_path={"/ui/login": LOGIN_MAX_BYTES})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's 422 body, rendered so that any input it quotes back can be encoded."""
        return SafeJSONResponse(status_code=422, content={"detail": jsonable_encoder(exc.errors())})

    def need(role: Role) -> Callable[[Request], Awaitable[ApiKey]]:
        async def check(request: Request) -> ApiKey:  # async: a sync dependency costs a thread hand-off per request
            header = request.headers.get("authorization", "")
            presented = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get(
                "x-api-key", "")
            key = find_key(keys, presented) if presented else None
            if key is None:
                raise HTTPException(401, "a valid API key is needed (Authorization: Bearer <key>)",
                                    headers={"WWW-Authenticate": "Bearer"})
            if not key.allows(role):
                raise HTTPException(403, f"the key {key.name!r} is read-only")
            return key

        return check

    reader = Depends(need("read"))
    writer = Depends(need("write"))

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Answered on the event loop itself: a plain ``def`` would queue behind the scoring requests for a
        thread of the pool, and a liveness probe must say whether the loop turns, not how busy the pool is."""
        return {"status": "ok"}

    probe = ReadinessProbe(db, get_model, kafka_check or (_kafka_check(settings) if settings.kafka_bootstrap else None),
                           cache_s=settings.readiness_cache_s)

    @app.get("/readyz", tags=["operations"], response_model=Readiness,
             responses={503: {"model": Readiness, "description": "a dependency does not answer"}})
    def readyz() -> JSONResponse:
        result = probe.check()
        return SafeJSONResponse(result.model_dump(), status_code=200 if result.ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)

    def score_texts(texts: list[str], langs: list[str | None]) -> list[tuple[str, str | None, str]]:
        """One model call for the texts of every request in a batch: (the score as JSON, emotion model, model
        version). Each score is serialised here, in the batch worker, as the ``Score`` schema orders its fields:
        built and validated as pydantic models on the event loop they cost every request ~0.1 ms there, and
        the loop is what ``/healthz`` and every other request wait on (issue 29)."""
        m = get_model()
        pred = as_router(m).route(texts, langs)
        return [(_dumps({"text": t, "label": pred.decided[i],
                         "probabilities": {} if pred.unscored[i] else {
                             n: float(p) for n, p in zip(pred.labels, pred.probabilities[i], strict=True)},
                         "emotions": pred.emotions[i], "lang": pred.languages[i], "model_version": pred.versions[i],
                         "unscored_reason": pred.unscored[i]}),
                 pred.emotion_model, m.version) for i, t in enumerate(texts)]

    batcher = DynamicBatcher(score_texts, max_texts=settings.api_batch_max_texts,
                             max_wait_s=settings.api_batch_max_wait_ms / 1000,
                             max_queue=settings.api_queue_max_texts, workers=settings.api_batch_workers,
                             metrics=BatchMetrics(reg))
    app.state.batcher = batcher

    @app.post("/v1/score", tags=["scoring"], response_model=ScoreResponse, dependencies=[reader],
              responses={503: {"description": "too many texts wait to be scored: retry after Retry-After seconds"}})
    async def score(body: ScoreRequest) -> Response:
        texts = [body.text] if body.text is not None else list(body.texts or [])
        try:
            results = await batcher.submit(texts, [body.lang] * len(texts))
        except Overloaded as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from exc
        # a Response is sent as it is: FastAPI's validation of the return value against ScoreResponse (which the
        # OpenAPI document still shows) would redo on the loop what the worker did
        return Response(f'{{"model_version":{_dumps(results[0][2])},"emotion_model":{_dumps(results[0][1])},'
                        f'"scores":[{",".join(r[0] for r in results)}]}}', media_type="application/json")

    @app.get("/v1/topics", tags=["topics"], response_model=list[TopicStatus], dependencies=[reader])
    def topics() -> list[dict[str, Any]]:
        return queries.topic_statuses(db, config, queries.topic_names(db))

    @app.get("/v1/topics/{topic}/timeline", tags=["topics"], response_model=Timeline, dependencies=[reader],
             responses={404: {"description": "no such topic"}})
    def topic_timeline(topic: TopicName,
                       start: Annotated[datetime | None, Query(alias="from")] = None,
                       end: Annotated[datetime | None, Query(alias="to")] = None,
                       step: Annotated[int, Query(ge=1, le=10_080, description="minutes per point")] = 1
                       ) -> Timeline:
        stop = _utc(end) if end else clock().replace(second=0, microsecond=0) + timedelta(minutes=1)
        begin = _utc(start) if start else stop - timedelta(hours=6)
        if begin >= stop:
            raise invalid(["query", "from"], "'from' must be before 'to'")
        if (stop - begin) / timedelta(minutes=step) > MAX_TIMELINE_BUCKETS:
            raise invalid(["query", "step"], f"at most {MAX_TIMELINE_BUCKETS} points: widen 'step' or narrow the range")
        if topic not in queries.topic_names(db):
            raise HTTPException(404, f"no topic {topic!r}")
        points = queries.timeline(db, topic, begin, stop, step)
        rows, _ = queries.alert_rows(db, topic=topic, since=begin, until=stop, limit=1_000)
        return Timeline(topic=topic, step_minutes=step, points=[
            TimelinePoint(start=b.start, tweets=b.tweets, negatives=b.negatives, negative_share=b.share)
            for b in points], alerts=[AlertMark(id=r.id, fired_at=_utc(r.fired_at), resolved_at=_utc_or_none(
                r.resolved_at), state=r.state) for r in rows])

    ingest = Ingestion(settings, db, get_model, reg)

    @app.post("/v1/ingest", tags=["ingest"], response_model=IngestResult, status_code=202, dependencies=[writer],
              responses={503: {"description": "Kafka does not answer: nothing was accepted, retry later"}})
    def ingest_records(body: IngestRequest) -> IngestResult:
        """Validated with the scorer's own rules; accepted records go to ``tweets.raw`` (stack mode) or are
        scored and stored at once (embedded mode). Refused ones are listed with their index and reason."""
        accepted, refused = ingest.submit(body.records)
        return IngestResult(accepted=accepted, refused=[IngestRefusal(index=i, reason=r) for i, r in refused],
                            destination="kafka" if settings.kafka_bootstrap else "store")

    @app.get("/v1/alerts", tags=["alerts"], response_model=AlertPage, dependencies=[reader])
    def alerts(topic: Annotated[str | None, Query(max_length=TOPIC_MAX_CHARS)] = None,
               state: Literal["firing", "resolved"] | None = None,
               since: datetime | None = None, until: datetime | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> AlertPage:
        rows, total = queries.alert_rows(db, topic=topic, state=state, since=_utc_or_none(since),
                                         until=_utc_or_none(until), limit=limit, offset=offset)
        nxt = offset + len(rows) if offset + len(rows) < total else None
        return AlertPage(total=total, limit=limit, offset=offset, next_offset=nxt, alerts=[_alert(r) for r in rows])

    @app.get("/v1/alerts/{alert_id}", tags=["alerts"], response_model=AlertDetail, dependencies=[reader],
             responses={404: {"description": "no such alert"}})
    def alert(alert_id: AlertId) -> AlertDetail:
        found = queries.alert_row(db, alert_id)
        if found is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        row, acks = found
        return AlertDetail(**_alert(row).model_dump(), top_terms=[{"term": t, "z": z} for t, z in row.top_terms],
                           examples=list(row.examples), emotions=row.emotions, acks=[_ack(a) for a in acks],
                           deliveries=[Delivery(**d) for d in queries.deliveries(db, alert_id)])

    @app.post("/v1/alerts/{alert_id}/ack", tags=["alerts"], response_model=AlertDetail, status_code=201,
              responses={404: {"description": "no such alert"}})
    def ack(alert_id: AlertId, body: AckRequest, key: ApiKey = writer) -> AlertDetail:
        if not queries.acknowledge(db, alert_id, body.who, body.note, key.name, clock()):
            raise HTTPException(404, f"no alert {alert_id!r}")
        return alert(alert_id)

    from badbuzz.services.api.page import mount_page

    mount_page(app, db, config, keys, clock)  # the live page at /, for people rather than programs
    return app


def invalid(loc: list[str], msg: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors (the schema the OpenAPI document promises)."""
    return HTTPException(422, [{"loc": loc, "msg": msg, "type": "value_error"}])


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _utc_or_none(ts: datetime | None) -> datetime | None:
    return _utc(ts) if ts is not None else None


def _alert(r: AlertRow) -> Alert:
    return Alert(id=r.id, topic=r.topic, state=r.state, fired_at=_utc(r.fired_at),
                 resolved_at=_utc_or_none(r.resolved_at), window_start=_utc(r.window_start),
                 window_end=_utc(r.window_end), negative_rate=r.negative_rate, baseline_rate=r.baseline_rate,
                 volume=r.volume, p_value=r.p_value, signal=r.signal, scale_minutes=r.scale_minutes,
                 expected_negatives=r.expected_negatives, unpaged_reason=r.unpaged_reason, severity=r.severity,
                 history_minutes=r.history_minutes, baseline_note=r.baseline_note)


def _ack(a: AlertAckRow) -> Ack:
    return Ack(who=a.who, note=a.note, key_name=a.key_name, acked_at=_utc(a.acked_at))


def _kafka_check(settings: Settings) -> Callable[[], None]:
    """Lists topics through one admin client, kept between checks (opening one costs a broker round trip
    and a metadata fetch) and replaced after a failure."""
    held: dict[str, Any] = {}

    def check() -> None:
        from kafka import KafkaAdminClient

        try:
            if "admin" not in held:
                held["admin"] = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=3000,
                                                 **settings.kafka_security().kafka_python())
            held["admin"].list_topics()
        except Exception:
            admin = held.pop("admin", None)
            if admin is not None:
                admin.close()
            raise

    return check
