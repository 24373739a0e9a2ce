"""``badbuzz score-file``: per-class probabilities for every row of a CSV, streamed in chunks."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from badbuzz.models.data import open_text
from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.services.cli_args import Subparsers, updated
from badbuzz.services.settings import Settings


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


def register(sub: Subparsers) -> None:
    c = sub.add_parser("score", help="score texts (arguments, or lines on stdin): sentiment, and emotion if negative")
    c.add_argument("texts", nargs="*")
    c.add_argument("--model", type=Path, help="sentiment model directory (default: the released model)")
    c.add_argument("--lang", help="the texts' language (e.g. fr); detected per text when absent")
    c.set_defaults(run=run_score_texts)
    f = sub.add_parser("score-file", help="add per-class probabilities to any CSV with a text column")
    f.add_argument("input", type=Path)
    f.add_argument("output", type=Path)
    f.add_argument("--model", type=Path, help="model directory (default: the released sentiment model)")
    f.add_argument("--text-column", default="text")
    f.set_defaults(run=run_score_file)


def run_score_texts(args: argparse.Namespace, settings: Settings) -> int:
    """One JSON line per text: label, language, probabilities (or why it is unscored), emotions."""
    import json
    import sys

    from badbuzz.services.scorer import load_model

    model = load_model(updated(settings, model_dir=args.model), warm_up=False)
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


def run_score_file(args: argparse.Namespace, settings: Settings) -> int:
    n = score_file(args.model or settings.resolved_model_dir, args.input, args.output, text_column=args.text_column)
    print(f"scored {n} rows → {args.output}")
    return 0
