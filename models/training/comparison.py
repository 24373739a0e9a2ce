"""``badbuzz compare``: the comparison the product grew from, on the same split, in one table.

Off-the-shelf analyser (VADER), simple bespoke model (TF-IDF + logistic regression, trained here on the same
training split as the transformer) and the fine-tuned transformer as PyTorch fp32 and as each shipped ONNX
variant. Columns: accuracy, F-beta(2) for negative, ROC-AUC, macro recall, train time, tweets/s at inference
(same 2,000 test texts, batches of 64, this machine) and model size.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from badbuzz.models.serving.decision import calibration_rows, fit_weights
from badbuzz.models.training.baselines import TfidfLogReg, Vader
from badbuzz.models.training.evaluation import evaluate_scorer, load_test
from badbuzz.models.training.glove_lstm import GloveBiLSTM
from badbuzz.models.training.metrics import FloatArray, Report
from badbuzz.models.training.train import TrainConfig, load_examples

Scorer = Callable[[Sequence[str]], FloatArray]


@dataclass
class Row:
    model: str
    train_seconds: float | None
    tweets_per_second: float
    size_mb: float
    reports: dict[str, dict[str, Report]]


def speed(scorer: Scorer, texts: Sequence[str], batch: int = 64) -> float:
    scorer(texts[:batch])
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        scorer(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def compare(cfg: TrainConfig, tests: Sequence[tuple[str, Path]], *, model_dir: Path | None, checkpoint: Path | None,
            output: Path, machine: str) -> list[Row]:
    """Every model on every test set. Each model's labels are decided by decision weights fitted on the
    same dev rows (the transformer's are the ones in its model directory), so no model wins on its rule."""
    train_set, dev_set = load_examples(cfg)
    texts, y = [e.text for e in train_set], [e.label for e in train_set]
    fit_rows = [dev_set[i] for i in calibration_rows([e.source for e in dev_set], [e.label for e in dev_set],
                                                      len(cfg.labels))]
    dev_texts, dev_y = [e.text for e in fit_rows], [e.label for e in fit_rows]
    test_sets = {kind: load_test(kind, path) for kind, path in tests}
    speed_texts = [e.text for ex in test_sets.values() for e in ex][:2000]
    rows: list[Row] = []
    candidates: list[tuple[str, Callable[[], tuple[Scorer, float | None, float]]]] = [
        ("VADER (off-the-shelf)", lambda: _baseline(Vader(cfg.labels), texts, y)),
        ("TF-IDF + logistic regression", lambda: _baseline(TfidfLogReg(cfg.labels), texts, y)),
        ("GloVe 50d + BiLSTM", lambda: _baseline(GloveBiLSTM(cfg.labels), texts, y)),
    ]
    if checkpoint is not None:
        candidates.append(("transformer, PyTorch fp32", lambda: _pytorch(checkpoint)))
    model_weights: list[float] | None = None
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is not None:
            manifest = json.loads((model_dir / "badbuzz-model.json").read_text())
            if manifest.get("decision_weights"):
                model_weights = [float(manifest["decision_weights"][label]) for label in cfg.labels]
            trained = _train_seconds(checkpoint)
            for variant in manifest["variants"]:
                candidates.append((f"transformer, ONNX {variant}",
                                   functools.partial(_onnx, model_dir, variant, trained)))
            rejected = manifest.get("parity", {}).get("int8", {}).get("rejected")
            if "int8" not in manifest["variants"]:
                candidates.append(("transformer, ONNX int8 (not shipped)",
                                   functools.partial(_onnx, _int8_copy(model_dir, Path(tmp)), "int8", trained)))
                if rejected:
                    notes.append(f"ONNX int8 is not shipped: {rejected} on the dev split; measured here anyway.")
        for name, build in tqdm(candidates, desc="compare", unit="model"):
            scorer, train_seconds, size = build()
            weights: list[float] | None = None
            if name.startswith("transformer") and model_weights is not None:
                weights = model_weights
            elif dev_texts:
                weights = fit_weights(scorer(dev_texts), dev_y)
            reports = {kind: evaluate_scorer(scorer, cfg.labels, ex, bootstrap=200, weights=weights)
                       for kind, ex in test_sets.items()}
            rows.append(Row(name, train_seconds, speed(scorer, speed_texts), size / 1e6, reports))
    write_table(rows, output, cfg, machine, notes)
    return rows


def _int8_copy(model_dir: Path, tmp: Path) -> Path:
    """A throwaway model directory holding the int8 variant export would build (to measure one not shipped)."""
    from badbuzz.models.serving.quantize import quantize_int8_variant

    target = tmp / "int8"
    target.mkdir()
    doc = json.loads((model_dir / "badbuzz-model.json").read_text())
    for name in (doc.get("tokenizer", "tokenizer.json"), "config.json"):
        shutil.copy(model_dir / name, target / name)
    quantize_int8_variant(model_dir / doc["variants"]["fp32"], target / "model.int8.onnx")
    doc["variants"] = {"int8": "model.int8.onnx"}
    (target / "badbuzz-model.json").write_text(json.dumps(doc))
    return target


def _baseline(model: Vader | TfidfLogReg | GloveBiLSTM, texts: list[str], y: list[int]
              ) -> tuple[Scorer, float | None, float]:
    started = time.perf_counter()
    model.fit(texts, y)
    trained = None if isinstance(model, Vader) else time.perf_counter() - started
    return model.predict_proba, trained, float(model.size_bytes)


def _train_seconds(checkpoint: Path | None) -> float | None:
    if checkpoint is None:
        return None
    value = json.loads((checkpoint / "training.json").read_text()).get("train_seconds")
    return float(value) if value is not None else None


def _onnx(model_dir: Path, variant: str, train_seconds: float | None) -> tuple[Scorer, float | None, float]:
    from badbuzz.models.serving.inference import OnnxSentimentModel

    model = OnnxSentimentModel(model_dir, device="cpu", variant=variant)
    size = (model_dir / model.manifest.variants[variant]).stat().st_size

    def score(texts: Sequence[str]) -> FloatArray:
        return model.predict(list(texts)).probabilities.astype(np.float64)

    return score, train_seconds, float(size)


def _pytorch(checkpoint: Path) -> tuple[Scorer, float | None, float]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from badbuzz.models.serving.preprocessing import get_preprocessor
    from badbuzz.models.training.train import TRAINING_META, model_inputs

    meta = json.loads((checkpoint / TRAINING_META).read_text())
    preprocess = get_preprocessor(meta["preprocessing"])
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    accepted = model_inputs(model)

    def score(texts: Sequence[str]) -> FloatArray:
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), 64):
                enc = tokenizer([preprocess(t) for t in texts[i : i + 64]], truncation=True,
                                max_length=meta["max_length"], padding=True, return_tensors="pt")
                enc = {k: v for k, v in enc.items() if k in accepted}
                out.append(torch.softmax(model(**enc).logits.float(), -1).numpy())
        return np.concatenate(out).astype(np.float64)

    size = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors"))
    return score, float(meta.get("train_seconds") or 0.0), float(size)


def write_table(rows: list[Row], output: Path, cfg: TrainConfig, machine: str, notes: Sequence[str] = ()) -> None:
    lines = [
        "# Model comparison", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}. Labels: {', '.join(cfg.labels)}. Training split:",
        "the same for every trained model: " + ", ".join(f"`{k}` ({p.name})" for k, p in cfg.sources)
        + f", deduplicated by normalised text, {100 - cfg.dev_percent}% train by text hash.",
        "Speed: the same 2,000 test tweets, batches of 64, CPU. F-beta(2) counts *negative* as the class to catch.",
        f"Labels: argmax of p·w with per-class decision weights w fitted on the {cfg.dev_percent}% dev split for "
        "every model (macro recall; the transformer's are those stored in its model directory).",
        "",
    ]
    kinds = list(rows[0].reports) if rows else []
    for kind in kinds:
        lines += [f"## {kind}", "",
                  "| model | scope | n | accuracy | F-beta(2) neg | ROC-AUC neg | macro recall | macro F1 "
                  "| train time (s) | tweets/s | size (MB) |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for row in rows:
            for scope, r in row.reports[kind].items():
                auc = f"{r.roc_auc_negative:.3f}" if r.roc_auc_negative is not None else "–"
                train = f"{row.train_seconds:.0f}" if row.train_seconds is not None else "–"
                lines.append(f"| {row.model} | {scope.replace('_', ' ')} | {r.n} | {r.accuracy:.3f} | "
                             f"{r.fbeta2_negative:.3f} | {auc} | {r.macro_recall:.3f} | {r.macro_f1:.3f} | {train} | "
                             f"{row.tweets_per_second:,.0f} | {row.size_mb:.1f} |")
        lines.append("")
    lines += [f"- {n}" for n in notes]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines))
