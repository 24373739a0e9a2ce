"""The ``badbuzz`` command line. Settings are built here, in ``main()``, from ``BADBUZZ_*`` and flags."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from badbuzz.models.preprocessing import CURRENT_VERSION, PREPROCESSORS
from badbuzz.services import model_commands
from badbuzz.services.model_commands import source_arg
from badbuzz.services.settings import Settings
from badbuzz.stream.errors import BadBuzzError

SENTIMENT140_URL = "https://cs.stanford.edu/people/alecmgo/trainingandtestdata.zip"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="badbuzz", description="Bad Buzz Watch: tweet sentiment stream and alerts")
    sub = p.add_subparsers(dest="command", required=True)

    from badbuzz.services.ingest.command import add_parser as add_ingest

    add_ingest(sub)
    db = sub.add_parser("db", help="the database: migrations and retention (BADBUZZ_DATABASE_URL)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate the schema to this version's newest revision (services do it at start)")
    db_sub.add_parser("current", help="print the schema's revision and this version's newest one")
    db_sub.add_parser("retention", help="delete tweets, rollups and alerts older than the retention settings, once")

    s = sub.add_parser("services", help="run a long-running service")
    s.add_argument("service", choices=["scorer", "alerter", "api", "topics"],
                   help="scorer: the Kafka scorer; alerter: detection + alert delivery; api: the HTTP API; "
                        "topics: create topics")
    s.add_argument("--host", help="api: address to listen on (default BADBUZZ_API_HOST)")
    s.add_argument("--port", type=int, help="api: port (default BADBUZZ_API_PORT)")

    k = sub.add_parser("api-key", help="make an API key: prints the key (once) and the BADBUZZ_API_KEYS entry")
    k.add_argument("name")
    k.add_argument("--role", choices=["read", "write"], default="read")

    t = sub.add_parser("train", help="fine-tune an encoder (Sentiment140 by default, or any combination of sets)")
    t.add_argument("--data", type=Path, help="Sentiment140 CSV or folder (default BADBUZZ_DATA)")
    t.add_argument("--task", choices=["sentiment2", "sentiment3", "emotion4"], default="sentiment2")
    t.add_argument("--train", action="append", default=[], metavar="KIND=PATH",
                   help="training set, repeatable: sentiment140, semeval, tse, tweeteval-sentiment, "
                        "tweeteval-emotion, umsab (a folder: every language in it) or csv (text,label columns); "
                        "combined and deduplicated")
    t.add_argument("--eval-every", type=int, default=100)
    t.add_argument("--patience", type=int, default=None, help="stop after N evaluations without improvement")
    t.add_argument("--checkpoint-every", type=int, default=0, help="save resumable state every N steps")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --output")
    t.add_argument("--base-model", help="hub name or local directory (default BADBUZZ_BASE_MODEL)")
    t.add_argument("--output", type=Path, required=True, help="checkpoint directory to write")
    t.add_argument("--max-steps", type=int, default=300)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--max-length", type=int, default=0, help="0: the 95th percentile of the data's token counts")
    t.add_argument("--learning-rate", type=float, default=5e-5)
    t.add_argument("--seed", type=int, default=13)
    t.add_argument("--dev-percent", type=int, default=10,
                   help="share of the (combined) data held out for early stopping and threshold tuning")
    t.add_argument("--max-dev-rows", type=int, default=1000, help="cap on dev rows evaluated (0: all)")
    t.add_argument("--preprocessing", choices=sorted(PREPROCESSORS), default=CURRENT_VERSION,
                   help="tweet normalisation, recorded in the checkpoint and applied again by every scorer "
                        "(tweet-v2 also spells out emoji, which word-piece vocabularies lack)")
    t.add_argument("--freeze-embeddings", action="store_true",
                   help="keep the word embeddings as pretrained (a multilingual encoder keeps its unseen languages "
                        "aligned, and its vocabulary can be trimmed after training)")
    t.add_argument("--max-source-rows", type=int, default=0,
                   help="at most N rows from each --train set, a uniform sample by id hash (0: all)")
    t.add_argument("--dev-source", action="append", default=[], metavar="PREFIX",
                   help="early-stop on dev rows from these sources only (e.g. umsab: the multilingual rows)")
    t.add_argument("--teacher", help="distil: learn this checkpoint's probabilities (models/distill.py)")
    t.add_argument("--student-layers", type=int, default=0,
                   help="distil: keep this many of --base-model's layers, evenly spaced (0: all)")
    t.add_argument("--unlabelled", action="append", default=[], metavar="KIND=PATH",
                   help="distil: more training texts, labels ignored, learnt from --teacher's probabilities "
                        "(same kinds as --train)")

    a = sub.add_parser("average", help="average the weights of same-recipe checkpoints (a model soup) into one")
    a.add_argument("checkpoints", type=Path, nargs="+",
                   help="checkpoints trained on the same data split, or a checkpoint followed by the one it was "
                        "fine-tuned from (its base)")
    a.add_argument("--output", type=Path, required=True, help="checkpoint directory to write")
    a.add_argument("--weights", type=float, nargs="+", help="mixing weights, one per checkpoint (default: equal)")

    e = sub.add_parser("export", help="checkpoint → validated ONNX model directory")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--output", type=Path, required=True)
    e.add_argument("--no-int8", action="store_true", help="skip the dynamically quantised CPU variant")
    e.add_argument("--no-fp16", action="store_true", help="skip the half-precision GPU variant")
    e.add_argument("--validate-texts", type=int, default=1000, help="dev texts for the parity check (0: skip)")
    e.add_argument("--argmax", action="store_true",
                   help="serve plain argmax instead of decision weights fitted on the dev split")

    r = sub.add_parser("replay", help="replay Sentiment140 (re-timed) or any history (--keep-time) to tweets.raw")
    r.add_argument("file", type=Path, nargs="?",
                   help="with --keep-time: a tweet history (CSV, JSON lines, Sentiment140)")
    r.add_argument("--keep-time", action="store_true",
                   help="pace FILE by its own timestamps (at --speed), shifted so its first tweet is now")
    r.add_argument("--original-dates", action="store_true", help="with --keep-time: send the file's own dates")
    _history_columns(r, labels=False)
    r.add_argument("--data", type=Path)
    r.add_argument("--limit", type=int, default=None, help="tweets to send (default: the whole file)")
    r.add_argument("--per-minute", type=float, default=60.0, help="stream-time tweets per minute")
    r.add_argument("--speed", type=float, default=0.0, help="stream seconds per wall second (0: max)")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--id-prefix", default="")
    r.add_argument("--to", choices=["kafka", "stdout"], default="kafka")
    r.add_argument("--scenario", action="store_true",
                   help="shaped volume, topics and injected bad-buzz episodes (stream/alerting/scenario.py)")
    r.add_argument("--days", type=float, default=1.0, help="scenario length in stream days")
    r.add_argument("--truth", type=Path, help="where to write the scenario's ground truth (JSON)")

    b = sub.add_parser("backtest", help="run a tweet history through the live alerter's code, offline")
    b.add_argument("file", type=Path, help="CSV with a header, JSON lines, or a Sentiment140-format file")
    _history_columns(b, labels=True)
    b.add_argument("--alerts", type=Path, help="write the alerts here as JSON lines")
    b.add_argument("--plots", type=Path, help="write one PNG timeline per topic into this folder")
    b.add_argument("--topics", default="", help="comma-separated topics to report (default: all)")
    b.add_argument("--seed-baselines", action="store_true",
                   help="then write each topic's learned baselines into the deployment's database, so the live "
                        "alerter starts with them instead of from nothing (a new deployment, a new topic)")
    b.add_argument("--replace-baselines", action="store_true",
                   help="with --seed-baselines: also overwrite topics the deployment already has baselines for")

    a = sub.add_parser("eval-alerts", help="score alerts against replay ground truth, or simulate replays")
    a.add_argument("--simulate", action="store_true", help="replay the standard scenario offline, ours vs naive")
    a.add_argument("--tiers", action="store_true",
                   help="simulated weeks at 20, 200, 2,000 and 20,000 tweets/h: ours vs previous vs naive")
    a.add_argument("--weeks", type=float, default=3.0, help="with --tiers: weeks per simulated history")
    a.add_argument("--default-profile", action="store_true",
                   help="with --tiers: the default simulator (issue 15's tables) instead of the field profile")
    a.add_argument("--data", type=Path)
    a.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    a.add_argument("--days", type=float, default=1.0)
    a.add_argument("--naive-threshold", type=float, default=0.5)
    a.add_argument("--output", type=Path, help="report to write (--tiers: docs/alerting.md, --simulate: "
                                                "docs/alerting-scenario.md)")
    a.add_argument("--truth", type=Path, help="ground truth written by `replay --scenario --truth`")
    a.add_argument("--alerts", type=Path, help="alert events as JSON lines (BADBUZZ_ALERTS_FILE)")

    c = sub.add_parser("score", help="score texts (arguments, or lines on stdin): sentiment, and emotion if negative")
    c.add_argument("texts", nargs="*")
    c.add_argument("--model", type=Path, help="sentiment model directory (default: the released model)")
    c.add_argument("--lang", help="the texts' language (e.g. fr); detected per text when absent")

    d = sub.add_parser("demo", help="the main job end to end in embedded mode (no servers needed)")
    d.add_argument("--data", type=Path, help="Sentiment140 CSV or folder (default BADBUZZ_DATA)")
    d.add_argument("--download", action="store_true", help="fetch the official Sentiment140 file if needed")
    d.add_argument("--hours", type=float, default=3.0, help="stream hours to replay (one episode per 3 hours)")
    d.add_argument("--train", action="store_true",
                   help="fine-tune a small binary model from scratch into HOME/model instead of the released one")
    d.add_argument("--train-steps", type=int, default=400, help="with --train: training steps")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--serve", action="store_true",
                   help="then keep the live page and the API up on the demo's data (BADBUZZ_API_HOST/PORT)")

    v = sub.add_parser("evaluate", help="evaluate a model directory on a labelled test set (JSON + Markdown)")
    v.add_argument("--model", type=Path, help="model directory (default: the released sentiment model)")
    v.add_argument("--test", action="append", required=True, metavar="KIND=PATH",
                   help="sentiment140-test, tweeteval-sentiment, tweeteval-emotion (folders), tse or csv; "
                        "repeat for several test sets (one report each)")
    v.add_argument("--variant", help="ONNX variant (fp32, int8, fp16); default: the device's choice")
    v.add_argument("--neutral-band", type=float, default=0.1, help="binary model on 3-way data: |p−½| < band")
    v.add_argument("--output", type=Path,
                   help="report path without suffix (default reports/<model>-<test>; one --test only)")
    v.add_argument("--decision", choices=["model", "argmax"], default="model",
                   help="label rule: the model directory's dev-fitted decision weights (as served), or plain argmax")

    k = sub.add_parser("compare", help="VADER vs TF-IDF+LR vs the fine-tuned transformer, same split, one table")
    k.add_argument("--task", choices=["sentiment2", "sentiment3", "emotion4"], default="sentiment3")
    k.add_argument("--train", action="append", default=[], metavar="KIND=PATH", help="as for `train`")
    k.add_argument("--test", action="append", default=[], metavar="KIND=PATH", help="as for `evaluate`")
    k.add_argument("--model", type=Path, help="the transformer's ONNX model directory")
    k.add_argument("--checkpoint", type=Path, help="the transformer's PyTorch checkpoint")
    k.add_argument("--output", type=Path, default=Path("docs/model-comparison.md"))
    k.add_argument("--dev-percent", type=int,
                   help="held-out share left out of the baselines' training (default: the checkpoint's, else 10)")

    f = sub.add_parser("score-file", help="add per-class probabilities to any CSV with a text column")
    f.add_argument("input", type=Path)
    f.add_argument("output", type=Path)
    f.add_argument("--model", type=Path, help="model directory (default: the released sentiment model)")
    f.add_argument("--text-column", default="text")

    b = sub.add_parser("bench", help="end-to-end Kafka→PostgreSQL tweets/s vs inference-only tweets/s")
    b.add_argument("--tweets", type=int, default=5000)
    b.add_argument("--data", type=Path)
    b.add_argument("--output", type=Path, help="default docs/benchmarks.md (--compare-models: "
                                                "docs/benchmarks-models.md)")
    b.add_argument("--compare-models", action="store_true",
                   help="inference only, no servers: the served models against --sentiment / --emotion directories")
    b.add_argument("--sentiment", type=Path, action="append", default=[], help="a sentiment model dir to compare")
    b.add_argument("--emotion", type=Path, action="append", default=[], help="an emotion model dir to compare")
    b.add_argument("--api-load", action="store_true",
                   help="POST /v1/score under 1, 16 and 64 concurrent clients against batched inference only "
                        "(docs/benchmarks-api.md)")
    b.add_argument("--seconds", type=float, default=15.0, help="--api-load: seconds per row")
    b.add_argument("--languages", action="store_true",
                   help="what languages cost: routing on an English stream, tweets/s per language, bilingual end to "
                        "end (docs/benchmarks-languages.md)")
    b.add_argument("--null-model", action="store_true",
                   help="the pipeline's own ceiling: Kafka → scorer → PostgreSQL with constant scores instead of "
                        "inference, tweets/s and CPU per stage (docs/benchmarks-pipeline.md)")
    model_commands.add_parsers(sub)
    return p


def _db_command(command: str, settings: Settings) -> int:
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from badbuzz.services import migrations
    from badbuzz.services.retention import apply_retention
    from badbuzz.services.storage import make_engine, postgres_session_args

    if command == "current":
        url = settings.resolved_database_url
        engine = create_engine(url, hide_parameters=True, connect_args=postgres_session_args(url))
        with engine.connect() as conn:
            print(f"database: {migrations.current(conn) or 'none (empty, or made before migrations)'}; "
                  f"this badbuzz: {migrations.head()}")
        return 0
    engine = make_engine(settings.resolved_database_url)  # migrates (under the advisory lock)
    if command == "upgrade":
        with engine.connect() as conn:
            print(f"database schema at {migrations.current(conn)}")
        return 0
    deleted = apply_retention(engine, settings.retention_policy(), datetime.now(UTC))
    print(json.dumps(deleted))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"badbuzz: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    # Our loggers at the configured level; libraries (onnxruntime, kafka, faust) only warn.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("badbuzz").setLevel(settings.log_level)
    try:
        return _dispatch(args, settings)
    except (BadBuzzError, FileNotFoundError, ValueError) as exc:
        print(f"badbuzz: error: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:  # the driver's message names host, port and user, never the password
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(f"badbuzz: error: the database does not answer: {first}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `badbuzz replay --to stdout | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _with(settings: Settings, **updates: Any) -> Settings:
    return settings.model_copy(update={k: v for k, v in updates.items() if v is not None})


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    cmd = args.command
    if cmd == "api-key":
        from badbuzz.services.api.auth import new_key

        key, entry = new_key(args.name, args.role)
        print(f"key (give it to {args.name}; it is not stored anywhere): {key}")
        print(f"add to BADBUZZ_API_KEYS (comma-separated): {entry}")
        return 0
    if cmd in model_commands.COMMANDS:
        return model_commands.dispatch(args, settings, run_command=main)
    if cmd == "db":
        return _db_command(args.db_command, settings)
    if cmd == "ingest":
        from badbuzz.services.ingest.command import run_ingest

        return run_ingest(args, settings)
    if cmd == "services":
        if args.service == "topics":
            from badbuzz.stream.kafka_io import ensure_topics

            if not settings.kafka_bootstrap:
                raise SystemExit("BADBUZZ_KAFKA_BOOTSTRAP is not set")
            ensure_topics(settings.kafka_bootstrap, [settings.topic_raw, settings.topic_scored, settings.topic_dlq],
                          settings.partitions, settings.kafka_max_request_bytes, settings.kafka_security(),
                          config=settings.kafka_topic_config())
            return 0
        if args.service == "alerter":
            from badbuzz.services.alerting.runner import run_alerter

            run_alerter(settings)
            return 0
        if args.service == "api":
            from badbuzz.services.api.runner import run_api

            run_api(_with(settings, api_host=args.host, api_port=args.port))
            return 0
        from badbuzz.services.scorer import run_scorer

        run_scorer(settings)
        return 0
    if cmd == "train":
        from badbuzz.models.base_models import resolve_base_model
        from badbuzz.models.data import find_sentiment140
        from badbuzz.models.train import TASKS, TrainConfig, train

        sources = [source_arg(spec) for spec in args.train]
        data = args.data or settings.data
        if data is None and not sources:
            raise SystemExit("pass --data (Sentiment140) or --train KIND=PATH, or set BADBUZZ_DATA")
        out = train(TrainConfig(
            data=find_sentiment140(data) if data is not None and not sources else None, sources=sources,
            output_dir=args.output, labels=list(TASKS[args.task]),
            base_model=resolve_base_model(args.base_model or settings.base_model),
            max_steps=args.max_steps, batch_size=args.batch_size, max_length=args.max_length or None,
            learning_rate=args.learning_rate, seed=args.seed, eval_every=args.eval_every, patience=args.patience,
            checkpoint_every=args.checkpoint_every, resume=args.resume, dev_percent=args.dev_percent,
            max_dev_rows=args.max_dev_rows, preprocessing=args.preprocessing,
            teacher=args.teacher, student_layers=args.student_layers, freeze_embeddings=args.freeze_embeddings,
            max_source_rows=args.max_source_rows, dev_sources=args.dev_source,
            unlabelled=[source_arg(spec) for spec in args.unlabelled],
        ))
        print(f"checkpoint written to {out}")
        return 0
    if cmd == "average":
        from badbuzz.models.averaging import average_checkpoints
        from badbuzz.models.train import require_train_extra

        require_train_extra()
        try:
            res = average_checkpoints(args.checkpoints, args.output, args.weights)
        except ValueError as exc:
            raise SystemExit(f"average: {exc}") from None
        for c in res.components:
            score = c["metrics"].get("dev_macro_recall")
            print(f"{c['checkpoint']}: dev macro recall {score:.4f}" if score is not None
                  else f"{c['checkpoint']}: no dev score")
        print(f"average: dev accuracy {res.dev_accuracy:.4f}, macro recall {res.dev_macro_recall:.4f} "
              f"on {res.dev_rows} dev tweets")
        if res.dev_rows_in_a_base:
            print(f"note: {res.dev_rows_in_a_base} of those dev tweets were training rows of a base checkpoint "
                  "(scores listed above for a base are on its own dev split)")
        print(f"checkpoint written to {res.output}")
        return 0
    if cmd == "export":
        return _export(args)
    if cmd == "backtest":
        from badbuzz.services.alerting.backtest import run_backtest_command

        run_backtest_command(settings, args.file, columns=_columns(args), fmt=args.format, alerts_out=args.alerts,
                             plots=args.plots, topics=args.topics, seed=args.seed_baselines,
                             replace=args.replace_baselines)
        return 0
    if cmd == "replay":
        from badbuzz.services.replayer import run_replay

        if args.keep_time or args.file is not None:
            from badbuzz.services.replayer import run_history_replay

            if args.file is None or not args.keep_time:
                raise SystemExit("replay FILE needs --keep-time (and --keep-time needs a FILE)")
            run_history_replay(settings, args.file, columns=_columns(args), fmt=args.format, speed=args.speed,
                               to=args.to, original_dates=args.original_dates)
            return 0
        s = _with(settings, data=args.data)
        if args.scenario:
            from badbuzz.services.replayer import run_scenario_replay

            run_scenario_replay(s, seed=args.seed, days=args.days, speed=args.speed, truth=args.truth, to=args.to)
            return 0
        run_replay(s, limit=args.limit, per_minute=args.per_minute, speed=args.speed, seed=args.seed,
                   id_prefix=args.id_prefix, to=args.to)
        return 0
    if cmd == "eval-alerts":
        from badbuzz.services.alerting.eval_command import score_run, simulate

        if args.tiers:
            from badbuzz.services.alerting.eval_command import evaluate_field_tiers, evaluate_tiers

            if args.default_profile:
                evaluate_tiers(settings, seeds=args.seeds, weeks=args.weeks,
                               output=args.output or Path("docs/alerting-default-profile.md"))
            else:
                evaluate_field_tiers(settings, seeds=args.seeds, weeks=args.weeks,
                                     output=args.output or Path("docs/alerting.md"))
            return 0
        if args.simulate:
            simulate(_with(settings, data=args.data), seeds=args.seeds, days=args.days,
                     naive_threshold=args.naive_threshold, config=settings.detector_config(),
                     output=args.output or Path("docs/alerting-scenario.md"))
            return 0
        if not (args.truth and args.alerts):
            raise SystemExit("eval-alerts needs --simulate, or --truth FILE and --alerts FILE")
        score_run(args.truth, args.alerts)
        return 0
    if cmd == "score":
        from badbuzz.services.scorer import load_model

        model = load_model(_with(settings, model_dir=args.model), warm_up=False)
        texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
        pred = model.route(texts, [args.lang] * len(texts))
        for i, text in enumerate(texts):
            doc: dict[str, Any] = {"text": text, "label": pred.decided[i], "lang": pred.languages[i] or "und"}
            if pred.unscored[i]:
                doc["unscored_reason"] = pred.unscored[i]
            else:
                doc["probabilities"] = {k: round(float(v), 4) for k, v in zip(pred.labels, pred.probabilities[i],
                                                                                strict=True)}
                doc["model"] = pred.versions[i]
            if (emotions := pred.emotions[i]) is not None:
                doc["emotions"] = {k: round(v, 4) for k, v in emotions.items()}
            print(json.dumps(doc, ensure_ascii=False))
        return 0
    if cmd == "demo":
        from badbuzz.services.demo import download_sentiment140, run_demo, serve_demo

        s = _with(settings, data=args.data)
        if s.data is None and args.download:
            s = _with(s, data=download_sentiment140(s.home / "data", SENTIMENT140_URL))
        summary = run_demo(s, hours=args.hours, train_steps=args.train_steps if args.train else 0, seed=args.seed)
        if args.serve:
            serve_demo(s, str(summary["database"]))
        return 0
    if cmd == "evaluate":
        from badbuzz.models.evaluation import evaluate_scorer, load_test, model_dir_scorer, write_reports

        tests = [source_arg(t) for t in args.test]
        if args.output is not None and len(tests) > 1:
            raise SystemExit("evaluate: --output names one report; leave it out to evaluate several --test sets")
        model_dir = args.model or settings.resolved_model_dir
        scorer, labels, model = model_dir_scorer(model_dir, args.variant, settings.onnx_sub_batch)
        weights = model.weights if args.decision == "model" else None
        rule = ("decision weights " + ", ".join(f"{n} {w:.2f}" for n, w in zip(labels, weights, strict=True))
                if weights else "argmax")
        suffix = "-argmax" if args.decision == "argmax" else ""
        for kind, path in tests:
            reports = evaluate_scorer(scorer, labels, load_test(kind, path), neutral_band_width=args.neutral_band,
                                      weights=weights)
            out = args.output or Path("reports") / f"{model_dir.name}-{kind}{suffix}"
            paths = write_reports(reports, out, f"{model.version} on {kind} ({path.name}), {rule}")
            for name, r in reports.items():
                print(f"{kind} {name}: accuracy {r.accuracy:.4f}, macro recall {r.macro_recall:.4f}, "
                      f"F-beta(2) negative {r.fbeta2_negative:.4f}, n={r.n}")
            print(f"reports: {paths[0]} {paths[1]}")
        return 0
    if cmd == "compare":
        from badbuzz.models.comparison import compare
        from badbuzz.models.train import TASKS, TrainConfig, config_from_checkpoint
        from badbuzz.services.bench import machine

        dev_percent = args.dev_percent
        if dev_percent is None:
            dev_percent = config_from_checkpoint(args.checkpoint).dev_percent if args.checkpoint else 10
        cfg = TrainConfig(data=None, output_dir=Path("."), base_model="", labels=list(TASKS[args.task]),
                          sources=[source_arg(s) for s in args.train], max_dev_rows=0, dev_percent=dev_percent)
        compare(cfg, [source_arg(t) for t in args.test], model_dir=args.model, checkpoint=args.checkpoint,
                output=args.output, machine=machine())
        print(args.output.read_text())
        return 0
    if cmd == "score-file":
        from badbuzz.services.score_file import score_file

        n = score_file(args.model or settings.resolved_model_dir, args.input, args.output,
                       text_column=args.text_column)
        print(f"scored {n} rows → {args.output}")
        return 0
    if cmd == "bench":
        from badbuzz.services.bench import run_bench, run_model_comparison

        if args.api_load:
            from badbuzz.services.bench_api import run_api_load

            run_api_load(_with(settings, data=args.data), tweets=args.tweets, seconds=args.seconds,
                         output=args.output or Path("docs/benchmarks-api.md"))
            return 0
        if args.languages:
            from badbuzz.services.bench_languages import run_language_bench

            run_language_bench(_with(settings, data=args.data), tweets=args.tweets,
                               output=args.output or Path("docs/benchmarks-languages.md"))
            return 0
        if args.null_model:
            from badbuzz.services.bench import run_null_model

            run_null_model(_with(settings, data=args.data), tweets=args.tweets,
                           output=args.output or Path("docs/benchmarks-pipeline.md"))
            return 0
        if args.compare_models:
            run_model_comparison(_with(settings, data=args.data), tweets=args.tweets, sentiment=args.sentiment,
                                 emotion=args.emotion, output=args.output or Path("docs/benchmarks-models.md"))
            return 0
        run_bench(_with(settings, data=args.data), tweets=args.tweets, output=args.output or Path("docs/benchmarks.md"))
        return 0
    raise AssertionError(cmd)


def _history_columns(p: argparse.ArgumentParser, *, labels: bool) -> None:
    p.add_argument("--format", choices=["auto", "csv", "jsonl", "sentiment140"], default="auto")
    p.add_argument("--text-column", default="text")
    p.add_argument("--time-column", default="created_at", help="ISO 8601, Unix seconds/ms, or Sentiment140 dates")
    p.add_argument("--topic-column", help="topics given with each tweet (comma-separated or a JSON list)")
    p.add_argument("--id-column", default="id")
    if labels:
        p.add_argument("--label-column", help="use these labels (negative/neutral/positive) instead of the model")


def _columns(args: argparse.Namespace) -> Any:
    from badbuzz.stream.history import Columns

    return Columns(text=args.text_column, time=args.time_column, topic=args.topic_column,
                   label=getattr(args, "label_column", None), id=args.id_column)


def _export(args: argparse.Namespace) -> int:
    from badbuzz.services.model_setup import export_validated

    out = export_validated(args.checkpoint, args.output, dev_texts=args.validate_texts, int8=not args.no_int8,
                           fp16=not args.no_fp16, fit_decision=not args.argmax)
    print(f"model directory written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
