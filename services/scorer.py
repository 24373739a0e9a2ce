"""The scorer service in server mode: faust app on Kafka, PostgreSQL store, Prometheus endpoint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.models.serving.language import LanguageDetector
from badbuzz.models.serving.model_dir import MANIFEST_NAME, InvalidModelDir, ModelManifest, load_manifest
from badbuzz.models.serving.routing import LanguageRouter, Route, single
from badbuzz.models.serving.scoring import SentimentAndEmotion
from badbuzz.services.heap import settle_heap
from badbuzz.services.settings import Settings
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.stream.kafka.batch_publish import BatchPublisher
from badbuzz.stream.kafka.clients import (
    KafkaDeadLetterSink,
    KafkaScoredSink,
    RenewableProducer,
    ensure_topics,
)
from badbuzz.stream.kafka.lag import LagMonitor
from badbuzz.stream.periodic import Scheduler
from badbuzz.stream.scoring.metrics import ScorerMetrics, serve_metrics
from badbuzz.stream.scoring.pipeline import ScoringPipeline

log = logging.getLogger(__name__)


def load_model(settings: Settings, *, warm_up: bool = True) -> LanguageRouter:
    """The sentiment models, each for the languages it was validated on, behind one router (models/serving/routing.py);
    the main one with its emotion model unless ``BADBUZZ_EMOTIONS=off``; warmed up."""
    main = load_main_model(settings, warm_up=warm_up)
    if settings.languages == "off" or not main.sentiment.manifest.languages:
        # one model for every tweet: asked for, or a main model that lists no languages (a user's own, trained on
        # their data) and so takes every tweet before a second model could see one
        if settings.multilingual_model_dir is not None and settings.languages != "off":
            log.warning("%s lists no languages, so it scores every tweet: BADBUZZ_MULTILINGUAL_MODEL_DIR is not "
                        "used", main.sentiment.model_dir)
        return single(main)
    routes = [Route(main, _languages(main.sentiment.manifest), _emotion_languages(main))]
    multi_dir = settings.resolved_multilingual_model_dir
    explicit = settings.multilingual_model_dir is not None
    if explicit or (multi_dir / MANIFEST_NAME).is_file():
        multi = onnx_model(settings, multi_dir, spinning=False)
        routes.append(Route(_warm(SentimentAndEmotion(multi, None, "off"), warm_up), _languages(multi.manifest)))
    router = LanguageRouter(routes, detector=LanguageDetector(settings.language_confidence))
    served = router.supported_languages()
    log.info("languages served: %s", "any" if served is None else ", ".join(sorted(served)))
    return router


def onnx_model(settings: Settings, model_dir: Path, *, branch_dir: Path | None = None,
               spinning: bool | None = None) -> OnnxSentimentModel:
    """One model directory on the device, variant, threads and batching the settings ask for."""
    model = OnnxSentimentModel(model_dir, device=settings.device, variant=settings.onnx_variant,
                               threads=settings.onnx_threads, lanes=settings.onnx_lanes,
                               lane_nice=settings.onnx_lane_nice,
                               max_batch=settings.onnx_sub_batch,
                               cuda_device_id=settings.cuda_device_id, cuda_mem_limit_mb=settings.cuda_mem_limit_mb,
                               branch_dir=branch_dir, spinning=settings.onnx_spinning if spinning is None else spinning,
                               cache_dir=settings.home / "cache" / "graphs")
    if settings.null_model:
        log.warning("BADBUZZ_NULL_MODEL is set: %s answers constant scores (a benchmark of the pipeline, not a "
                    "scorer)", model_dir)
        model.skip_inference()
    return model


def _languages(manifest: ModelManifest) -> frozenset[str] | None:
    return frozenset(manifest.languages) if manifest.languages else None


def _emotion_languages(model: SentimentAndEmotion) -> frozenset[str] | None:
    """The languages the emotion head was validated on (its manifest's; none listed: any)."""
    if model.sentiment.branch is not None:
        return _languages(model.sentiment.branch.manifest)
    return _languages(model.emotion.manifest) if model.emotion is not None else None


def load_main_model(settings: Settings, *, warm_up: bool = True) -> SentimentAndEmotion:
    """The sentiment model and, unless ``BADBUZZ_EMOTIONS=off``, the emotion model, warmed up."""

    def one(model_dir: Path, branch_dir: Path | None = None) -> OnnxSentimentModel:
        return onnx_model(settings, model_dir, branch_dir=branch_dir)

    emotion_dir = settings.resolved_emotion_model_dir
    explicit = settings.emotion_model_dir is not None
    sentiment_only = settings.emotions == "off"
    if not sentiment_only and not explicit and not (emotion_dir / MANIFEST_NAME).is_file():
        log.warning("no released emotion model in %s: scoring sentiment only (set BADBUZZ_EMOTION_MODEL_DIR, "
                    "or BADBUZZ_EMOTIONS=off to silence this)", emotion_dir)
        sentiment_only = True
    if not sentiment_only and load_manifest(emotion_dir).trunk:  # a branch of the encoder: one session, two heads
        try:
            return _warm(SentimentAndEmotion(one(settings.resolved_model_dir, emotion_dir), None, settings.emotions),
                         warm_up)
        except InvalidModelDir as exc:
            if explicit or "trained on sentiment model" not in str(exc):
                raise
            # the user swapped the sentiment model: the released branch does not fit it; say so, go on
            log.warning("%s Scoring sentiment only.", exc)
            sentiment_only = True
    if sentiment_only:
        return _warm(SentimentAndEmotion(one(settings.resolved_model_dir), None, "off"), warm_up)
    return _warm(SentimentAndEmotion(one(settings.resolved_model_dir), one(emotion_dir), settings.emotions), warm_up)


def _warm(model: SentimentAndEmotion, warm_up: bool) -> SentimentAndEmotion:
    if warm_up:
        model.warm_up()
    return model


def register_models(store: ScoreStore, router: LanguageRouter, settings: Settings) -> None:
    """Every model that may score a tweet, with the languages it serves (the rows' model_version points here)."""
    for route in router.routes:
        m: Any = route.model
        languages = sorted(route.languages) if route.languages is not None else "any"
        store.register_model(m.version, m.labels, {"languages": languages,
                                                   "dir": str(getattr(m, "sentiment", m).model_dir)})
        emotion_version = getattr(m, "emotion_version", None)
        if emotion_version is not None:
            store.register_model(emotion_version, m.emotion_labels, {
                "dir": str(settings.resolved_emotion_model_dir), "scope": m.scope,
                "languages": sorted(route.emotion_languages) if route.emotion_languages is not None else "any"})


def run_scorer(settings: Settings) -> None:
    """Run one scorer replica until stopped (SIGTERM/SIGINT)."""
    if settings.kafka_bootstrap is None:
        raise SystemExit("the scorer service needs BADBUZZ_KAFKA_BOOTSTRAP (use `badbuzz demo` for embedded mode)")
    model = load_model(settings)
    registry = CollectorRegistry()
    metrics = ScorerMetrics(registry)
    metrics.model_info.labels(version=model.version, providers=",".join(model.providers)).set(1)
    store = ScoreStore(make_engine(settings.resolved_database_url, wait_s=settings.database_wait_s),
                       on_retry=lambda exc: metrics.store_retries.inc())
    register_models(store, model, settings)
    security = settings.kafka_security()
    ensure_topics(settings.kafka_bootstrap, settings.kafka_topics,
                  settings.partitions, settings.kafka_max_request_bytes, security,
                  config=settings.kafka_topic_config())
    producer = RenewableProducer(settings.kafka_bootstrap, settings.kafka_max_request_bytes, security)
    publisher = BatchPublisher(settings.kafka_bootstrap, settings.kafka_max_request_bytes, security)
    pipeline = ScoringPipeline(
        model, store, KafkaScoredSink(publisher, settings.kafka_topic_scored),
        KafkaDeadLetterSink(producer, settings.kafka_topic_dlq), metrics, limits=settings.limits,
        topics=settings.topic_matcher(),
    )
    target = serve_metrics(registry, settings.metrics_port, settings.metrics_addr,
                           targets_dir=settings.prometheus_targets, service="scorer",
                           labels=settings.target_labels)
    lag = LagMonitor(settings.kafka_bootstrap, settings.consumer_group, metrics,
                     client_options=security.kafka_python())
    scheduler = Scheduler("scorer")
    scheduler.every("consumer-lag", settings.lag_interval_s, lag.tick)
    scheduler.start()
    settle_heap()  # the model and clients are built: later full GC passes skip them
    log.info("scorer replica %s (%s engine): model %s on %s, metrics on :%d", settings.replica,
             settings.scorer_engine, model.version, model.providers, settings.metrics_port)
    try:
        if settings.scorer_engine == "kafka-python":
            _run_batch_engine(settings, pipeline, metrics, lag)
        else:
            _run_faust_engine(settings, pipeline, metrics, lag)
    finally:
        if target is not None:  # faust's worker may end the process without running atexit hooks
            target.remove()
        scheduler.stop()
        lag.close()
        publisher.close()
        producer.close()


def _engine_options(settings: Settings, pipeline: ScoringPipeline, metrics: ScorerMetrics, lag: LagMonitor
                    ) -> dict[str, Any]:
    """What both engines take from the settings: where to read, how to batch, whom to report to."""
    assert settings.kafka_bootstrap is not None
    return {"bootstrap": settings.kafka_bootstrap, "topic": settings.kafka_topic_raw, "pipeline": pipeline,
            "metrics": metrics, "batch_max_size": settings.batch_max_size,
            "batch_max_wait_s": settings.batch_max_wait_s, "max_fetch_bytes": settings.kafka_max_request_bytes,
            "session_timeout_s": settings.kafka_session_timeout_s, "lag": lag}


def _run_faust_engine(settings: Settings, pipeline: ScoringPipeline, metrics: ScorerMetrics, lag: LagMonitor) -> None:
    from badbuzz.stream.kafka.faust_app import build_app

    datadir = settings.home / "faust" / settings.replica
    app = build_app(app_id=settings.consumer_group, partitions=settings.partitions, datadir=datadir,
                    credentials=settings.kafka_security().faust_credentials(),
                    replication_factor=settings.kafka_replication_factor,
                    **_engine_options(settings, pipeline, metrics, lag))
    datadir.mkdir(parents=True, exist_ok=True)
    make_worker(app, settings.log_level).execute_from_commandline()


def _run_batch_engine(settings: Settings, pipeline: ScoringPipeline, metrics: ScorerMetrics, lag: LagMonitor) -> None:
    """kafka-python's consumer group on this thread until SIGTERM/SIGINT (stream/kafka/batch_consumer.py)."""
    from badbuzz.services.signals import stop_requested
    from badbuzz.stream.kafka.batch_consumer import BatchScorer

    BatchScorer(group=settings.consumer_group, should_stop=stop_requested(),
                client_options=settings.kafka_security().kafka_python(),
                **_engine_options(settings, pipeline, metrics, lag)).run()


def make_worker(app: Any, log_level: str) -> Any:
    """faust's worker for the scorer, without its terminal spinner.

    faust keeps the spinner at WARNING and above, and then sets the root logger to DEBUG so that it "spins for
    every log message": every library's debug record (kafka-python logs one for each message produced) was
    built and handed to the handlers, which dropped it: 15 % of the null-model scorer's CPU at WARNING. A service
    has no terminal to spin in.
    """
    import faust  # imported where used: faust's import is slow and only the scorer service needs it

    worker = faust.Worker(app, loglevel=log_level, quiet=True, redirect_stdouts=False)
    worker.spinner = None
    return worker

