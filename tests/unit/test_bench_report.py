"""The benchmark report: ratios against the same run's reference, verdicts, and hand-written notes kept."""

from __future__ import annotations

from pathlib import Path

from badbuzz.services.bench import BenchResult, _write_report


def result(**kw: float) -> BenchResult:
    base = dict(tweets=5000, inference_tps=800.0, end_to_end_tps=640.0, model="fast:fp32", providers=["CPU"],
                batch_size=256, sub_batch=16, unbucketed_tps=500.0, emotion_inference_tps=600.0,
                emotion_end_to_end_tps=500.0, emotion_model="emo:fp32", negative_share=0.4, fused_tps=660.0,
                one_thread_tps=450.0, full_unbucketed_tps=400.0, full_tps=650.0, full_model="full:fp32",
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
    assert "(this run meets it); end to end with emotions" in text  # 640 / 800 = 0.8
    assert "**0.781** × sentiment only" in text  # 500 / 640
    assert "| the same with micro-batches of 64 | 512.0 | 0.800 × micro-batches of 256 |" in text  # 512 / 640
    _write_report(result(inference_tps=700.0), out)
    assert "unbucketed (this run MISSES it)" in out.read_text()
