"""``badbuzz compare`` on small data: every model, the same split, the same decision rule, int8 always measured."""

from __future__ import annotations

import re
from pathlib import Path

from badbuzz.models.training.comparison import compare
from badbuzz.models.training.train import TASKS, TrainConfig


def test_compare_writes_one_row_per_model_and_scope(tiny_model_dir: Path, tiny_checkpoint: Path, s140_sample: Path,
                                                    data_dir: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(data=None, output_dir=tmp_path, base_model="", labels=list(TASKS["sentiment2"]),
                      sources=[("sentiment140", s140_sample)], max_train_rows=1500, max_dev_rows=300)
    out = tmp_path / "comparison.md"
    rows = compare(cfg, [("sentiment140-test", data_dir / "sentiment140" / "testdata.manual.2009.06.14.csv")],
                   model_dir=tiny_model_dir, checkpoint=tiny_checkpoint, output=out, machine="test machine")
    names = [r.model for r in rows]
    assert names[:4] == ["VADER (off-the-shelf)", "TF-IDF + logistic regression", "GloVe 50d + BiLSTM",
                         "transformer, PyTorch fp32"]
    assert {"transformer, ONNX fp32", "transformer, ONNX fp16"} <= set(names)
    assert any(n.startswith("transformer, ONNX int8") for n in names)  # measured even when not shipped
    text = out.read_text()
    assert "test machine" in text and "decision weights" in text
    table = [line for line in text.splitlines() if line.startswith("| transformer, ONNX fp32 |")]
    assert len(table) == 2  # full set (neutral band) and negative vs positive
    accuracy = float(table[1].split("|")[4])
    assert 0.5 < accuracy <= 1.0  # the tiny model learned something; the parse guards the column layout
    fp32 = next(r for r in rows if r.model == "transformer, ONNX fp32")
    torch_row = next(r for r in rows if r.model == "transformer, PyTorch fp32")
    # same model, same decision rule: PyTorch and ONNX fp32 give the same accuracy on the same tweets
    assert torch_row.reports["sentiment140-test"]["negative_vs_positive"].accuracy == \
        fp32.reports["sentiment140-test"]["negative_vs_positive"].accuracy
    assert re.search(r"\| [\d,]+ \| [\d.]+ \|$", table[0])  # tweets/s and size filled in
