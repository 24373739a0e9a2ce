"""``badbuzz score-file``: per-class probabilities for every row of a CSV, streamed in chunks."""

from __future__ import annotations

import csv
from pathlib import Path

from badbuzz.models.data import open_text
from badbuzz.models.inference import OnnxSentimentModel


def score_file(model_dir: Path, src: Path, dst: Path, *, text_column: str = "text", chunk: int = 1024) -> int:
    model = OnnxSentimentModel(model_dir, device="auto")
    n = 0
    with open_text(src, "utf-8") as fin, open(dst, "w", newline="", encoding="utf-8") as fout:
        reader = csv.DictReader(fin)
        if reader.fieldnames is None or text_column not in reader.fieldnames:
            raise ValueError(f"{src}: no column {text_column!r} (columns: {reader.fieldnames})")
        fields = [*reader.fieldnames, "badbuzz_label", *(f"p_{label}" for label in model.labels)]
        writer = csv.DictWriter(fout, fieldnames=fields)
        writer.writeheader()
        rows: list[dict[str, str]] = []
        for row in reader:
            rows.append(row)
            if len(rows) == chunk:
                n += _flush(model, rows, writer, text_column)
        n += _flush(model, rows, writer, text_column)
    return n


def _flush(model: OnnxSentimentModel, rows: list[dict[str, str]], writer: csv.DictWriter[str], column: str) -> int:
    if not rows:
        return 0
    texts = [(r.get(column) or " ") for r in rows]
    pred = model.predict(texts)
    for row, probs, decided in zip(rows, pred.probabilities, pred.decided_labels(), strict=True):
        row["badbuzz_label"] = decided
        for label, p in zip(pred.labels, probs, strict=True):
            row[f"p_{label}"] = f"{float(p):.6f}"
        writer.writerow(row)
    count = len(rows)
    rows.clear()
    return count
