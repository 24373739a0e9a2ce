"""``badbuzz evaluate``: a model directory (or any scorer) on a labelled test set → JSON and Markdown.

A binary negative/positive model meets 3-way test sets through a neutral band (|p(neg) − ½| < band →
neutral). Sentiment test sets are also scored on their negative/positive rows alone, the setting of the
reference F-beta(2) numbers (Sentiment140's official test set has 359 such rows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from badbuzz.models.data import iter_sentiment140
from badbuzz.models.training import datasets
from badbuzz.models.training.metrics import FloatArray, Report, evaluate, neutral_band

Scorer = Callable[[Sequence[str]], FloatArray]
TEST_KINDS = ("sentiment140-test", "tweeteval-sentiment", "tweeteval-emotion", "tse", "umsab-<language>", "csv")


def load_test(kind: str, path: Path) -> list[datasets.Example]:
    if kind == "sentiment140-test":
        return [datasets.Example(r.id, r.text, r.label, "sentiment140-test") for r in iter_sentiment140(path)]
    if kind in {"tweeteval-sentiment", "tweeteval-emotion"}:
        return list(datasets.tweeteval(path, "val"))
    if kind == "tse":
        return list(datasets.tweet_sentiment_extraction(path))
    if kind.startswith("umsab"):  # umsab-french=.../umsab/french: that language's validation split
        return list(datasets.umsab(path, "val"))
    if kind == "csv":
        return list(datasets.csv_texts(path, label_column="label"))
    raise ValueError(f"unknown test set kind {kind!r}; known: {', '.join(TEST_KINDS)}")


def align(probs: FloatArray, model_labels: Sequence[str], test_labels: Sequence[str],
          band: float, weights: Sequence[float] | None = None) -> tuple[FloatArray, list[str], list[float] | None]:
    """Model probabilities (and decision weights) as columns of the test's label set (neutral band for
    binary models, whose weights then no longer apply)."""
    model_labels = list(model_labels)
    if set(test_labels) <= set(model_labels):
        cols = [model_labels.index(t) for t in test_labels]
        sub = probs[:, cols]
        sub_weights = [float(weights[c]) for c in cols] if weights is not None else None
        return sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None), list(test_labels), sub_weights
    if set(model_labels) == {"negative", "positive"} and set(test_labels) <= {"negative", "neutral", "positive"}:
        return (*neutral_band(probs, model_labels, band), None)
    raise ValueError(f"model labels {model_labels} cannot be scored against test labels {list(test_labels)}")


def evaluate_scorer(scorer: Scorer, model_labels: Sequence[str], examples: Sequence[datasets.Example], *,
                    neutral_band_width: float = 0.1, bootstrap: int = 1000,
                    weights: Sequence[float] | None = None) -> dict[str, Report]:
    """Reports on the full label set and, for sentiment, on the negative/positive rows alone; labels are
    decided with the model's decision ``weights`` (in ``model_labels`` order) when it has them."""
    test_labels = sorted({e.label for e in examples}, key=_label_order)
    probs = np.asarray(scorer([e.text for e in examples]), dtype=np.float64)
    reports: dict[str, Report] = {}
    full, labels, w = align(probs, model_labels, test_labels, neutral_band_width, weights)
    if "negative" in labels or len(labels) != 2:
        reports["full"] = evaluate([labels.index(e.label) for e in examples], full, labels,
                                   negative="negative" if "negative" in labels else labels[0], bootstrap=bootstrap,
                                   weights=w)
    if {"negative", "positive"} <= set(test_labels) and "neutral" in test_labels:
        keep = [i for i, e in enumerate(examples) if e.label in {"negative", "positive"}]
        binary, blabels, bw = align(probs[keep], model_labels, ["negative", "positive"], neutral_band_width, weights)
        reports["negative_vs_positive"] = evaluate(
            [blabels.index(examples[i].label) for i in keep], binary, blabels, bootstrap=bootstrap, weights=bw)
    return reports


def _label_order(label: str) -> tuple[int, str]:
    order = {"negative": 0, "neutral": 1, "positive": 2}
    return (order.get(label, 3), label)


def write_reports(reports: dict[str, Report], out: Path, title: str) -> tuple[Path, Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    json_path.write_text(json.dumps({k: r.as_dict() for k, r in reports.items()}, indent=2))
    lines = [f"# {title}", ""]
    for name, r in reports.items():
        lines += [f"## {name.replace('_', ' ')} ({r.n} tweets)", "",
                  "| metric | value | 95% CI |", "| --- | ---: | --- |"]
        for key, label in [("accuracy", "accuracy"), ("macro_recall", "macro recall"), ("macro_f1", "macro F1"),
                           ("fbeta2_negative", "F-beta(2), negative")]:
            lo, hi = r.intervals.get(key, (float("nan"), float("nan")))
            lines.append(f"| {label} | {getattr(r, key):.4f} | {lo:.3f}–{hi:.3f} |")
        auc = f"{r.roc_auc_negative:.4f}" if r.roc_auc_negative is not None else "–"
        lines += [f"| ROC-AUC, p(negative) | {auc} | |", f"| expected calibration error | {r.ece:.4f} | |", "",
                  "| class | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
        for cls, m in r.per_class.items():
            lines.append(f"| {cls} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']:.0f} |")
        lines += ["", "Confusion (rows = truth, columns = prediction, order " + ", ".join(r.labels) + "):", ""]
        lines += ["    " + " ".join(f"{v:6d}" for v in row) for row in r.confusion]
        lines.append("")
    md_path.write_text("\n".join(lines))
    return json_path, md_path


SERVED_SUB_BATCH = 16  # the scorer's default BADBUZZ_ONNX_SUB_BATCH


def model_dir_scorer(model_dir: Path, variant: str | None = None, sub_batch: int = SERVED_SUB_BATCH,
                     int8_scheme: str | None = None) -> tuple[Scorer, list[str], Any]:
    """A scorer over a model directory, run as the scorer runs it: length-sorted sub-batches of ``sub_batch``
    (int8 scores depend slightly on a tweet's batch mates, models/serving/quantize.py; fp32 ones do not).
    ``int8_scheme``: derive int8 this way rather than as the manifest records (``badbuzz quantize``)."""
    from badbuzz.models.serving.inference import OnnxSentimentModel

    model = OnnxSentimentModel(model_dir, device="auto", variant=variant, max_batch=sub_batch,  # a branch: a head
                               int8_scheme=int8_scheme)

    def score(texts: Sequence[str]) -> FloatArray:
        out = [model.predict(list(texts[i : i + 1024])).probabilities for i in range(0, len(texts), 1024)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, len(model.labels)))

    return score, model.labels, model
