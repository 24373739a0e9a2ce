"""``badbuzz bench``: end-to-end Kafka → scorer → PostgreSQL tweets/s against inference-only tweets/s.

Both numbers come from the same run, the same model directory, the same batch size and thread settings, on
the same texts, so their ratio is the pipeline's overhead on this machine. The end-to-end rate is taken
over the scorer's steady state (first stored batch to last), from the rows' own ``scored_at`` stamps, so
worker start-up time is not counted against the pipeline.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from badbuzz.models.data import find_sentiment140
from badbuzz.services.cli_args import Subparsers, updated
from badbuzz.services.scorer import load_model
from badbuzz.services.settings import Settings
from badbuzz.services.tools.bench_pipeline import PipelineRun, pipeline_run
from badbuzz.stream.sources.replay import retime, shuffled_rows

TARGET_RATIO = 0.85  # end to end vs inference only (pipeline overhead; issue 29, was 0.75)
NULL_MODEL_TARGET = 10_000  # tweets/s with a null model: a GPU scorer must not wait on the pipeline
NULL_MODEL_TWEETS = 60_000  # enough for several seconds of steady state at the target
EMOTION_TARGET = 0.7  # end to end with emotions vs without
SPEED_TARGET = 2.0  # served inference vs the full model without length bucketing (issue 14)
# The scorer's micro-batch before it was raised to 256. The reference rows keep it: issue 14's target is against
# "the current fp32 MiniLM throughput", one ONNX call per micro-batch of 64, and one call per 256 tweets would
# only make the reference slower (more padding) and the ratios larger.
REFERENCE_BATCH = 64
# the reference's batching, and one call at a time (ORT's intra-op threads over the cores), as it was served then
ONE_CALL = {"batch_max_size": REFERENCE_BATCH, "onnx_sub_batch": REFERENCE_BATCH, "onnx_lanes": 1}


@dataclass
class BenchResult:
    tweets: int
    inference_tps: float  # sentiment only, as served (length-bucketed sub-batches)
    end_to_end_tps: float  # sentiment only
    model: str
    providers: list[str]
    batch_size: int
    sub_batch: int = 0
    unbucketed_tps: float = 0.0  # sentiment only, one ONNX call per micro-batch (the earlier behaviour)
    emotion_inference_tps: float = 0.0  # sentiment + emotion on the negatives
    emotion_end_to_end_tps: float = 0.0
    emotion_model: str = ""
    negative_share: float = 0.0
    fused_tps: float = 0.0  # offline transformer fusion (onnxruntime.transformers.optimizer) instead of ORT's own
    one_lane_tps: float = 0.0  # one ONNX call at a time over ORT's intra-op threads, instead of a call per core
    full_unbucketed_tps: float = 0.0  # the full 6-layer model, one ONNX call per micro-batch: the reference
    full_tps: float = 0.0  # the full model, bucketed (equal to inference_tps when it is the served model)
    full_model: str = ""
    end_to_end_reference_batch_tps: float = 0.0  # end to end with micro-batches of REFERENCE_BATCH
    end_to_end_cpu: PipelineRun | None = None  # the sentiment end-to-end run, with where its CPU went
    null_model: dict[str, PipelineRun] | None = None  # per engine: a model that costs nothing (the ceiling)
    end_to_end_batch_engine: PipelineRun | None = None  # sentiment end to end on BADBUZZ_SCORER_ENGINE=kafka-python

    @property
    def ratio(self) -> float:
        return self.end_to_end_tps / self.inference_tps

    @property
    def emotion_ratio(self) -> float:
        return self.emotion_end_to_end_tps / self.end_to_end_tps if self.end_to_end_tps else 0.0


def run_bench(settings: Settings, *, tweets: int, output: Path) -> BenchResult:
    _require_servers(settings)
    assert settings.data is not None
    data = find_sentiment140(settings.data)
    start = datetime.now(UTC)
    replay = list(retime(shuffled_rows(data, seed=11, limit=tweets), start=start, per_minute=600, seed=11,
                         id_prefix="bench-"))
    texts = [t.text for t in replay]
    plain = settings.model_copy(update={"emotions": "off"})
    # the reference: the full encoder in fp32 (the served model may be a head on it, or its int8)
    whole = plain.model_copy(update={"model_dir": encoder_dir(plain.resolved_model_dir), "onnx_variant": "fp32"})

    def best(s: Settings) -> InferenceRun:  # best of two passes: background noise only ever slows one down
        return max((_inference_only(s, texts) for _ in range(2)), key=lambda r: r.tps)

    unbucketed = best(plain.model_copy(update=ONE_CALL))
    inference = best(plain)
    if whole.resolved_model_dir == plain.resolved_model_dir and inference.version.endswith(":fp32"):
        full_unbucketed, full = unbucketed, inference
    else:
        full_unbucketed = best(whole.model_copy(update=ONE_CALL))
        full = best(whole)
    one_lane = best(plain.model_copy(update={"onnx_lanes": 1}))
    with tempfile.TemporaryDirectory() as tmp:
        fused = best(whole.model_copy(update={"model_dir": fused_copy(whole.resolved_model_dir, Path(tmp))}))
    with_emotion = best(settings.model_copy(update={"emotions": "all"}))
    pipeline = pipeline_run(plain, replay)
    end_to_end = pipeline.tps
    end_to_end_reference_batch = pipeline_run(plain.model_copy(update={"batch_max_size": REFERENCE_BATCH}),
                                             replay).tps
    emotion_end_to_end = pipeline_run(settings.model_copy(update={"emotions": "all"}), replay).tps
    batch_engine = pipeline_run(plain.model_copy(update={"scorer_engine": "kafka-python"}), replay)
    null_stream = null_model_stream(plain, NULL_MODEL_TWEETS)
    null = {e: pipeline_run(plain.model_copy(update={"scorer_engine": e}), null_stream, null_model=True)
            for e in ENGINES}
    result = BenchResult(len(replay), inference.tps, end_to_end, inference.version, inference.providers,
                         settings.batch_max_size, settings.onnx_sub_batch, unbucketed.tps, with_emotion.tps,
                         emotion_end_to_end, with_emotion.emotion_version or "", with_emotion.negative_share,
                         fused.tps, one_lane.tps, full_unbucketed.tps, full.tps, full.version,
                         end_to_end_reference_batch, pipeline, null, batch_engine)
    _write_report(result, output)
    print(json.dumps({"full_unbucketed_tps": round(full_unbucketed.tps, 1), "full_tps": round(full.tps, 1),
                      "inference_only_tps": round(inference.tps, 1), "unbucketed_tps": round(unbucketed.tps, 1),
                      "fused_tps": round(fused.tps, 1), "one_lane_tps": round(one_lane.tps, 1),
                      "end_to_end_tps": round(end_to_end, 1), "ratio": round(result.ratio, 3),
                      "end_to_end_kafka_python_tps": round(batch_engine.tps, 1),
                      "ratio_kafka_python": round(batch_engine.tps / inference.tps, 3),
                      f"end_to_end_batch{REFERENCE_BATCH}_tps": round(end_to_end_reference_batch, 1),
                      "emotion_inference_tps": round(with_emotion.tps, 1),
                      "emotion_end_to_end_tps": round(emotion_end_to_end, 1),
                      "emotion_ratio": round(result.emotion_ratio, 3), "negative_share": round(
                          with_emotion.negative_share, 3), "report": str(output)}, indent=2))
    return result


def encoder_dir(model_dir: Path) -> Path:
    """The full model a head runs on (the directory itself when it is not a head)."""
    from badbuzz.models.serving.model_dir import load_manifest
    from badbuzz.models.serving.released import branch_trunk

    manifest = load_manifest(model_dir)
    return branch_trunk(model_dir, manifest) if manifest.trunk else model_dir


def fused_copy(model_dir: Path, out: Path) -> Path:
    """The model directory with its graph fused offline by ONNX Runtime's transformer optimizer (Attention,
    SkipLayerNormalization, BiasGelu, EmbedLayerNormalization), to compare with the fusions ORT applies when
    it loads the plain graph. A bench-only copy: its manifest drops the checksums of the replaced graph."""
    import shutil

    from onnxruntime.transformers.optimizer import optimize_model

    from badbuzz.models.serving.model_dir import load_manifest

    manifest = load_manifest(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    for f in model_dir.iterdir():
        shutil.copy(f, out / f.name)
    import onnx

    from badbuzz.models.serving.stored_weights import restore_fp32

    graph = onnx.load(str(model_dir / manifest.variants["fp32"]))
    restore_fp32(graph)  # fp16-stored weights as plain fp32 initializers: the optimizer fuses around casts badly
    opt = optimize_model(graph, model_type="bert", opt_level=1,
                         num_heads=int(config.get("num_attention_heads", 12)), hidden_size=int(config["hidden_size"]))
    opt.save_model_to_file(str(out / manifest.variants["fp32"]))
    manifest.files = {}
    manifest.write(out)
    return out


@dataclass
class InferenceRun:
    tps: float
    version: str
    providers: list[str]
    emotion_version: str | None
    negative_share: float


def _inference_only(settings: Settings, texts: list[str]) -> InferenceRun:
    """Micro-batches of ``batch_max_size`` through the served model, as the scorer calls it."""
    model = load_model(settings)  # warmed up
    size = settings.batch_max_size
    negative = 0
    started = time.perf_counter()
    for i in range(0, len(texts), size):
        pred = model.predict(texts[i : i + size])
        negative += sum(label == "negative" for label in pred.decided_labels())
    tps = len(texts) / (time.perf_counter() - started)
    return InferenceRun(tps, model.version, model.providers, model.emotion_version, negative / max(1, len(texts)))


def null_model_stream(settings: Settings, tweets: int) -> list:  # type: ignore[type-arg]
    """``tweets`` re-timed Sentiment140 tweets for the null-model leg: the file's rows repeated (fresh ids) when
    the ceiling needs more tweets than the file has, so the steady state lasts long enough to measure."""
    assert settings.data is not None
    rows = list(shuffled_rows(find_sentiment140(settings.data), seed=11, limit=tweets))
    start = datetime.now(UTC)
    out: list = []  # type: ignore[type-arg]
    lap = 0
    while len(out) < tweets and rows:
        take = rows[: tweets - len(out)]
        out += retime(take, start=start, per_minute=6000, seed=11 + lap, id_prefix=f"null{lap}-")
        lap += 1
    return out


ENGINES = ("faust", "kafka-python")  # BADBUZZ_SCORER_ENGINE's values, the default first


def run_null_model(settings: Settings, *, tweets: int, output: Path | None = None, replicas: int = 1
                   ) -> dict[str, PipelineRun]:
    """``badbuzz bench --null-model``: the pipeline's own ceiling with its CPU by stage, on each scorer engine in
    turn (the same stream, the same run); with ``replicas`` > 1, the same stream again through that many scorer
    processes of the faster engine in one consumer group (the ceiling's answer: the pipeline's Python runs in
    one process per replica, so it scales with the cores given to it)."""
    _require_servers(settings)
    stream = null_model_stream(settings, tweets)
    runs = {e: pipeline_run(settings.model_copy(update={"scorer_engine": e}), stream, null_model=True)
            for e in ENGINES}
    fastest = max(runs, key=lambda e: runs[e].tps)
    scaled = (pipeline_run(settings.model_copy(update={"scorer_engine": fastest}), stream, null_model=True,
                           replicas=replicas) if replicas > 1 else None)
    print(json.dumps({"target_tps": NULL_MODEL_TARGET,
                      **{f"null_model_tps_{e}": round(r.tps, 1) for e, r in runs.items()},
                      **({f"null_model_tps_{replicas}_replicas_{fastest}": round(scaled.tps, 1)} if scaled else {}),
                      **{f"{e}: {k}_us_per_tweet": round(r.per_tweet_us(v), 1)
                         for e, r in runs.items() for k, v in cpu_parts(r).items()}}, indent=2))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        command = f"badbuzz bench --null-model --tweets {tweets}" + (f" --replicas {replicas}" if scaled else "")
        output.write_text(f"""# Benchmarks: the pipeline's own ceiling (`badbuzz bench --null-model`)

Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine()}.
Command: `{command}` (servers from `deploy/stack.sh start`).
{null_model_section(runs)}{replicas_section(runs[fastest], scaled, replicas) if scaled else ""}""")
    return runs


def replicas_section(one: PipelineRun, many: PipelineRun, replicas: int) -> str:
    def row(n: int, r: PipelineRun) -> str:
        return (f"| {n} | {r.tps:,.0f} | {r.tps / max(1e-9, one.tps):.2f} × | {r.per_tweet_us(r.scorer_total):,.1f} | "
                f"{r.share(r.scorer_total):.0%} / {r.share(r.kafka):.0%} / {r.share(r.postgres):.0%} |")

    us_one, us_many = one.per_tweet_us(one.scorer_total), many.per_tweet_us(many.scorer_total)
    cores = NULL_MODEL_TARGET * us_many / 1e6  # scorer cores the target takes at this run's cost per tweet
    return f"""
## {replicas} scorer replicas, one consumer group, the same stream

| scorers | tweets/s | × one scorer | scorer CPU µs per tweet | cores' share: scorers / Kafka / PostgreSQL |
| ---: | ---: | ---: | ---: | ---: |
{row(1, one)}
{row(replicas, many)}

A scorer's Python (faust's loop, validation, tokenisation, the store's and the producer's client work) runs
under one interpreter lock per process, so one scorer is held near one core whatever its model costs. Replicas
split the partitions between processes and add cores: the CPU a tweet costs stays {us_one:,.0f} → {us_many:,.0f}
µs, so {NULL_MODEL_TARGET:,} tweets/s takes about {cores:.1f} cores of scorers (plus the broker's and
PostgreSQL's share), e.g. {math.ceil(cores * 1.25):d} replicas sharing one GPU on a host with the cores to spare.
This machine has {os.cpu_count()}.
"""


def cpu_parts(run: PipelineRun) -> dict[str, float]:
    """CPU seconds per part of the scorer and per server, in the order a tweet meets them."""
    loop = ("event loop (Kafka fetches, faust, offset commits)" if run.engine == "faust"
            else "main thread outside the stages (the consume loop, pauses)")
    return {loop: run.event_loop,
            **{f"stage: {k}": v for k, v in run.stages.items()},
            "other scorer threads (producer I/O, ONNX Runtime pool)": run.other_threads,
            "Kafka broker": run.kafka, "PostgreSQL": run.postgres}


def cpu_table(run: PipelineRun) -> str:
    lines = ["| part | CPU µs per tweet | share of the machine's cores |", "| --- | ---: | ---: |"]
    for name, seconds in cpu_parts(run).items():
        lines.append(f"| {name} | {run.per_tweet_us(seconds):,.1f} | {run.share(seconds):.1%} |")
    scorer = run.scorer_total
    lines.append(f"| **scorer process, all threads** | **{run.per_tweet_us(scorer):,.1f}** | "
                 f"**{run.share(scorer):.1%}** |")
    return "\n".join(lines)


def null_model_section(runs: dict[str, PipelineRun]) -> str:
    def verdict(r: PipelineRun) -> str:
        return "meets" if r.tps >= NULL_MODEL_TARGET else "MISSES"

    base = runs[ENGINES[0]]
    rows = "\n".join(f"| `{e}` | {r.tps:,.0f} | {r.tps / max(1e-9, base.tps):.2f} × | "
                     f"{r.per_tweet_us(r.scorer_total):,.1f} | {r.tweets:,} | {verdict(r)} |" for e, r in runs.items())
    tables = "\n".join(f"""
### `BADBUZZ_SCORER_ENGINE={e}`: CPU over {r.window_s:.1f} s in which {r.window_tweets:,} tweets were stored

{cpu_table(r)}
""" for e, r in runs.items())
    return f"""
The real path (Kafka `tweets.raw` → scorer → PostgreSQL + `tweets.scored`) with a model that costs nothing:
`BADBUZZ_NULL_MODEL=1` keeps validation, language detection, tokenisation and padding as served and answers
constant scores instead of running ONNX Runtime. It is the rate a scorer whose inference is nearly free (a GPU)
would be held to (target ≥ {NULL_MODEL_TARGET:,} tweets/s), on each scorer engine in turn: faust's agent (the
default) and kafka-python's consumer group taking whole fetches as batches (stream/kafka/batch_consumer.py).

| engine | tweets/s | × faust | scorer CPU µs per tweet | tweets | target |
| --- | ---: | ---: | ---: | ---: | --- |
{rows}

CPU from `/proc` and the scorer's `badbuzz_scorer_stage_cpu_seconds` counters. On faust every stage runs in a
worker thread and the event loop is the main thread; on kafka-python the main thread consumes and commits, two
scoring threads validate and score a batch and the next, and a delivery thread stores and publishes the batch
before them, so the three overlap.
{tables}"""


def _require_servers(settings: Settings) -> None:
    if settings.kafka_bootstrap is None or settings.database_url is None:
        raise SystemExit("bench needs the servers: `make bench`, or set BADBUZZ_KAFKA_BOOTSTRAP and "
                         "BADBUZZ_DATABASE_URL (deploy/stack.sh start; eval \"$(deploy/stack.sh env)\")")
    if settings.data is None:
        raise SystemExit("pass --data or set BADBUZZ_DATA")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores{mem}, {system}"


def _write_report(r: BenchResult, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    # the hand-written reading of earlier runs (### sections after the table) is kept below the new table
    notes = ""
    if output.is_file():
        old = output.read_text()
        notes = old[old.index("\n### "):] if "\n### " in old else ""
    verdict = "meets" if r.ratio >= TARGET_RATIO else "MISSES"
    emotion_verdict = "meets" if r.emotion_ratio >= EMOTION_TARGET else "MISSES"
    speed_verdict = "meets" if r.inference_tps >= SPEED_TARGET * r.full_unbucketed_tps else "MISSES"
    output.write_text(f"""# Benchmarks

## Scorer throughput: inference, end to end, emotions (`badbuzz bench`)

Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine()}.
Command: `make bench` (= `deploy/stack.sh start` then `badbuzz bench --tweets {r.tweets}`). Every row is the
same {r.tweets} Sentiment140 tweets in the same run, in micro-batches of {r.batch_size} as the scorer receives
them under a backlog (rows marked "one call per {REFERENCE_BATCH}": micro-batches of {REFERENCE_BATCH}, the \
scorer's before); inference-only rows are the best of two passes.

| measurement | tweets/s | ratio |
| --- | ---: | --- |
| inference only, full model `{r.full_model}`, one call per {REFERENCE_BATCH} (no length bucketing) | \
{r.full_unbucketed_tps:,.1f} | 1.000 (reference) |
| inference only, full model, sorted by length in sub-batches of {r.sub_batch} | {r.full_tps:,.1f} | \
{r.full_tps / max(r.full_unbucketed_tps, 1e-9):.3f} × reference |
| the same, graph fused offline by ONNX Runtime's transformer optimizer | {r.fused_tps:,.1f} | \
{r.fused_tps / max(r.full_tps, 1e-9):.3f} × the full model bucketed |
| inference only, served `{r.model}`, one call per {REFERENCE_BATCH} (no length bucketing) | {r.unbucketed_tps:,.1f} | \
{r.unbucketed_tps / max(r.full_unbucketed_tps, 1e-9):.3f} × reference |
| inference only, served, sorted by length in sub-batches of {r.sub_batch} (as served) | {r.inference_tps:,.1f} | \
**{r.inference_tps / max(r.full_unbucketed_tps, 1e-9):.3f}** × reference |
| the same, one ONNX call at a time over ORT's intra-op threads (before lanes) | {r.one_lane_tps:,.1f} | \
{r.one_lane_tps / max(r.inference_tps, 1e-9):.3f} × served |
| inference only, served sentiment + emotion on every tweet | {r.emotion_inference_tps:,.1f} | \
{r.emotion_inference_tps / max(r.inference_tps, 1e-9):.3f} × sentiment only |
| end to end, sentiment: Kafka `tweets.raw` → faust scorer → PostgreSQL (+ `tweets.scored`) | \
{r.end_to_end_tps:,.1f} | **{r.ratio:.3f}** × inference only |
{_batch_engine_row(r)}| the same with micro-batches of {REFERENCE_BATCH} | {r.end_to_end_reference_batch_tps:,.1f} | \
{r.end_to_end_reference_batch_tps / max(r.end_to_end_tps, 1e-9):.3f} × micro-batches of {r.batch_size} |
| end to end, sentiment + emotion | {r.emotion_end_to_end_tps:,.1f} | **{r.emotion_ratio:.3f}** × sentiment only |

Targets: end to end ≥ {TARGET_RATIO} × inference only (this run {verdict} it); end to end with emotions ≥
{EMOTION_TARGET} × without (this run {emotion_verdict} it); served inference ≥ {SPEED_TARGET} × the full model
unbucketed (this run {speed_verdict} it).
Models `{r.model}` and `{r.emotion_model}` on {", ".join(r.providers)}; all servers on the same machine
(Kafka, PostgreSQL and the benchmark share its cores with the scorer). End to end is measured from the first
stored batch to the last, from the rows' `scored_at`, after the whole stream was produced.
{_cpu_sections(r)}""" + notes)


def _batch_engine_row(r: BenchResult) -> str:
    run = r.end_to_end_batch_engine
    if run is None:
        return ""
    return (f"| the same on `BADBUZZ_SCORER_ENGINE=kafka-python` (whole fetches as batches) | {run.tps:,.1f} | "
            f"**{run.tps / max(r.inference_tps, 1e-9):.3f}** × inference only |\n")


def _cpu_sections(r: BenchResult) -> str:
    out = ""
    if r.end_to_end_cpu is not None:
        out += f"""
## How the cores were shared, end to end (sentiment, micro-batches of {r.batch_size})

From `/proc` (utime + stime of the scorer's threads, the Kafka broker's JVM and every PostgreSQL process) and the
scorer's per-stage counters, over {r.end_to_end_cpu.window_s:.1f} s in which {r.end_to_end_cpu.window_tweets:,}
tweets were stored; "score" is tokenisation and the ONNX Runtime call, whose pool threads are counted under the
other threads:

{cpu_table(r.end_to_end_cpu)}
"""
    if r.end_to_end_batch_engine is not None:
        out += f"""
The same on `BADBUZZ_SCORER_ENGINE=kafka-python`, over {r.end_to_end_batch_engine.window_s:.1f} s in which \
{r.end_to_end_batch_engine.window_tweets:,} tweets were stored:

{cpu_table(r.end_to_end_batch_engine)}
"""
    if r.null_model is not None:
        out += f"""
## The pipeline's own ceiling (`badbuzz bench --null-model`)
{null_model_section(r.null_model)}"""
    return out


def run_model_comparison(settings: Settings, *, tweets: int, sentiment: Sequence[Path], emotion: Sequence[Path],
                         output: Path, repeats: int = 2) -> dict[str, float]:
    """Inference only, same tweets, same run: the full released sentiment model (the reference), the served
    one (on a CPU the fast head) and other sentiment model directories, each unbucketed and length-bucketed;
    and served sentiment + emotion with the served emotion model and other emotion directories. No servers
    needed. The best of ``repeats`` passes is kept (a 2-core machine's background noise only ever slows a pass
    down)."""
    from badbuzz.models.serving.released import released_model_dir

    if settings.data is None:
        raise SystemExit("pass --data or set BADBUZZ_DATA")
    texts = [r.text for r in shuffled_rows(find_sentiment140(settings.data), seed=11, limit=tweets)]
    plain = settings.model_copy(update={"emotions": "off"})
    served = plain.resolved_model_dir
    rows: list[tuple[str, float, str]] = []
    results: dict[str, float] = {}

    def best(s: Settings) -> InferenceRun:
        return max((_inference_only(s, texts) for _ in range(repeats)), key=lambda r: r.tps)

    full = released_model_dir("sentiment3")
    dirs = [full, *([served] if served != full else []), *[d for d in sentiment if d not in (full, served)]]
    reference = plain.model_copy(update={"model_dir": full, "onnx_variant": "fp32"})
    ref_unb = best(reference.model_copy(update=ONE_CALL))
    ref_buck = best(reference)
    base = ref_unb.tps  # the full model in fp32, unbucketed: the reference of every ratio
    rows += [(f"sentiment `{ref_unb.version}` (full, fp32), unbucketed (one call per {REFERENCE_BATCH})", ref_unb.tps,
              "1.00 × full unbucketed"),
             (f"sentiment `{ref_buck.version}` (full, fp32), bucketed (sub-batches of {settings.onnx_sub_batch})",
              ref_buck.tps, f"{ref_buck.tps / base:.2f} × full unbucketed")]
    results["full-fp32:unbucketed"], results["full-fp32:bucketed"] = ref_unb.tps, ref_buck.tps
    for d in dirs:
        name = "full" if d == full else "served" if d == served else d.name
        unb = best(plain.model_copy(update={"model_dir": d, **ONE_CALL}))
        buck = best(plain.model_copy(update={"model_dir": d}))
        label = f"`{unb.version}` ({name}{', served' if d == served and name != 'served' else ''})"
        rows += [(f"sentiment {label}, unbucketed (one call per {REFERENCE_BATCH})", unb.tps,
                  f"{unb.tps / base:.2f} × full unbucketed"),
                 (f"sentiment {label}, bucketed (sub-batches of {settings.onnx_sub_batch})", buck.tps,
                  f"{buck.tps / base:.2f} × full unbucketed")]
        results[f"{name}:unbucketed"], results[f"{name}:bucketed"] = unb.tps, buck.tps
    sentiment_only = results["served:bucketed"] if served != full else results["full:bucketed"]
    for d in [settings.resolved_emotion_model_dir, *emotion]:
        run = best(settings.model_copy(update={"emotions": "all", "emotion_model_dir": d}))
        rows.append((f"served sentiment + emotion `{run.emotion_version}` on every tweet", run.tps,
                     f"{run.tps / sentiment_only:.2f} × served sentiment only"))
        results[f"emotion:{d.name}"] = run.tps
    table = "\n".join(f"| {what} | {tps:,.1f} | {ratio} |" for what, tps, ratio in rows)
    command = " ".join(["badbuzz bench --compare-models --tweets", str(len(texts)),
                        *(f"--sentiment {d}" for d in sentiment), *(f"--emotion {d}" for d in emotion)])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(f"""# Benchmarks: models compared (inference only)

Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine()}.
Command: `{command}`.
The same {len(texts)} Sentiment140 tweets, micro-batches of {settings.batch_max_size} as the scorer receives them
under a backlog (unbucketed rows: one ONNX call per micro-batch of {REFERENCE_BATCH}, the scorer's before, as the
reference of `docs/benchmarks.md`), best of {repeats} passes, CPU only.

| model | tweets/s | ratio |
| --- | ---: | --- |
{table}
""")
    print(json.dumps({k: round(v, 1) for k, v in results.items()}, indent=2))
    return results


def register(sub: Subparsers) -> None:
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
    b.add_argument("--replicas", type=int, default=1,
                   help="--null-model: also run the stream through this many scorer processes (one consumer group)")
    b.set_defaults(run=run_bench_command)


def run_bench_command(args: argparse.Namespace, settings: Settings) -> int:
    s = updated(settings, data=args.data)
    if args.api_load:
        from badbuzz.services.tools.bench_api import run_api_load

        run_api_load(s, tweets=args.tweets, seconds=args.seconds, output=args.output or Path("docs/benchmarks-api.md"))
    elif args.languages:
        from badbuzz.services.tools.bench_languages import run_language_bench

        run_language_bench(s, tweets=args.tweets, output=args.output or Path("docs/benchmarks-languages.md"))
    elif args.null_model:
        run_null_model(s, tweets=args.tweets, output=args.output or Path("docs/benchmarks-pipeline.md"),
                       replicas=args.replicas)
    elif args.compare_models:
        run_model_comparison(s, tweets=args.tweets, sentiment=args.sentiment, emotion=args.emotion,
                             output=args.output or Path("docs/benchmarks-models.md"))
    else:
        run_bench(s, tweets=args.tweets, output=args.output or Path("docs/benchmarks.md"))
    return 0
