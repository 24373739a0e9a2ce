"""The benchmark report: ratios against the same run's reference, verdicts, and hand-written notes kept."""

from __future__ import annotations

import os
from pathlib import Path

from badbuzz.services.tools.bench import BenchResult, _write_report


def result(**kw: float) -> BenchResult:
    base = dict(tweets=5000, inference_tps=800.0, end_to_end_tps=700.0, model="fast:fp32", providers=["CPU"],
                batch_size=256, sub_batch=16, unbucketed_tps=500.0, emotion_inference_tps=600.0,
                emotion_end_to_end_tps=500.0, emotion_model="emo:fp32", negative_share=0.4, fused_tps=660.0,
                one_lane_tps=450.0, full_unbucketed_tps=400.0, full_tps=650.0, full_model="full:fp32",
                end_to_end_reference_batch_tps=512.0)
    base.update(kw)
    return BenchResult(**base)  # type: ignore[arg-type]


def test_report_states_each_ratio_and_verdict_and_keeps_the_notes(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nold table\n\n### Reading this run\nkept words\n")
    _write_report(result(), out)
    text = out.read_text()
    assert "old table" not in text and text.count("### Reading this run") == 1 and "kept words" in text
    assert "**2.000** × reference" in text  # 800 served vs 400 full unbucketed
    assert "1.625 × reference" in text  # full bucketed 650 / 400
    assert "served inference ≥ 2.0 × the full model\nunbucketed (this run meets it)" in text
    assert "(this run meets it); end to end with emotions" in text  # 700 / 800 = 0.875 ≥ 0.85
    assert "**0.714** × sentiment only" in text  # 500 / 700
    assert "| the same with micro-batches of 64 | 512.0 | 0.731 × micro-batches of 256 |" in text  # 512 / 700
    _write_report(result(inference_tps=700.0), out)
    assert "unbucketed (this run MISSES it)" in out.read_text()


def test_report_shows_where_the_cpu_went_and_the_null_model_verdict(tmp_path: Path) -> None:
    from badbuzz.services.tools.bench_pipeline import PipelineRun

    def run(tps: float) -> PipelineRun:
        return PipelineRun(tweets=20_000, tps=tps, window_s=10.0, window_tweets=10_000, scorer_total=4.0,
                           event_loop=1.0, stages={"validate": 0.5, "score": 1.5, "store": 0.4, "publish": 0.3},
                           kafka=0.2, postgres=0.6)

    out = tmp_path / "benchmarks.md"
    batch = run(600.0)
    batch.engine = "kafka-python"
    _write_report(result(end_to_end_cpu=run(700.0), end_to_end_batch_engine=batch,  # type: ignore[arg-type]
                         null_model={"faust": run(3_000.0), "kafka-python": run(12_000.0)}), out)
    text = out.read_text()
    share = 1.5 / (10.0 * (os.cpu_count() or 1))  # of the 10 s window × the machine's cores
    assert f"| stage: score | 150.0 | {share:.1%} |" in text  # 1.5 s over 10,000 tweets
    assert "| other scorer threads (producer I/O, ONNX Runtime pool) | 30.0 |" in text  # 4 − 1 − 2.7
    assert "| **scorer process, all threads** | **400.0** |" in text
    assert "| `faust` | 3,000 | 1.00 × | 400.0 | 20,000 | MISSES |" in text
    assert "| `kafka-python` | 12,000 | 4.00 × | 400.0 | 20,000 | meets |" in text
    assert "**0.750** × inference only |" in text  # the kafka-python engine end to end: 600 / 800
    assert "main thread outside the stages" in text  # its loop is named for what it is


def test_proc_stat_cpu_and_the_accounting_between_two_samples(tmp_path: Path) -> None:
    from badbuzz.services.tools.bench_pipeline import TICK, CpuSample, PipelineRun, _ticks, account

    stat = tmp_path / "stat"  # a comm with spaces and parentheses: fields are counted after the last ")"
    fields = ["S"] + ["0"] * 10 + [str(3 * TICK), str(TICK)] + ["0"] * 30
    stat.write_text(f"4242 (python (odd) name) {' '.join(fields)}\n")
    assert _ticks(stat) == 4.0  # utime 3 s + stime 1 s
    assert _ticks(tmp_path / "gone") == 0.0
    before = CpuSample(0.0, 100, {7: 1.0, 8: 2.0}, {"validate": 0.5, "score": 1.0, "store": 0.0, "publish": 0.0},
                       10.0, {1: 5.0})
    after = CpuSample(4.0, 2100, {7: 2.0, 8: 4.5, 9: 0.5}, {"validate": 0.7, "score": 2.0, "store": 0.3,
                                                             "publish": 0.2}, 10.4, {1: 5.5, 2: 0.25})
    run = account(PipelineRun(tweets=2000, tps=500.0), before, after, scorer_pids=[7])
    assert (run.window_s, run.window_tweets) == (4.0, 2000)
    assert run.scorer_total == 4.0 and run.event_loop == 1.0  # a thread started in between counts from zero
    assert run.other_threads == 4.0 - 1.0 - (0.2 + 1.0 + 0.3 + 0.2)
    assert abs(run.kafka - 0.4) < 1e-9 and run.postgres == 0.75
    assert run.per_tweet_us(run.event_loop) == 500.0
    # the kafka-python engine consumes and commits on its main thread (validation and scoring run on worker
    # threads): its loop is the rest
    after.stages.update(consume=0.1, commit=0.05)
    after.scorer_threads[7] = 4.0  # 3 s on the main thread
    batch = account(PipelineRun(tweets=2000, tps=500.0, engine="kafka-python"), before, after, scorer_pids=[7])
    assert abs(batch.event_loop - (3.0 - 0.1 - 0.05)) < 1e-9
    assert list(batch.stages) == ["consume", "validate", "score", "store", "publish", "commit"]


def test_replicas_share_the_accounting_and_the_report_states_the_scaling() -> None:
    from badbuzz.services.tools.bench import replicas_section
    from badbuzz.services.tools.bench_pipeline import CpuSample, PipelineRun, account

    stages = {"validate": 0.0, "score": 0.0, "store": 0.0, "publish": 0.0}
    before = CpuSample(0.0, 0, {7: 1.0, 8: 1.0, 70: 2.0}, stages, 0.0, {})
    after = CpuSample(2.0, 4000, {7: 2.0, 8: 1.5, 70: 3.0, 71: 0.5}, stages, 0.2, {})
    two = account(PipelineRun(tweets=4000, tps=2000.0), before, after, scorer_pids=[7, 70])
    assert two.event_loop == 2.0 and two.scorer_total == 3.0  # both processes' main threads, all their threads
    one = PipelineRun(tweets=4000, tps=1250.0, window_s=3.2, window_tweets=4000, scorer_total=3.0)
    text = replicas_section(one, two, 2)
    assert "| 2 | 2,000 | 1.60 × | 750.0 |" in text and "takes about 7.5 cores of scorers" in text
