"""Export a trained checkpoint to a validated ONNX model directory (needs ``pip install badbuzz[train]``).

``export()`` writes files; ``validate()`` compares ONNX Runtime with PyTorch on real texts and raises
:class:`ParityError` when they disagree. They are separate so a directory can be re-validated later.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from badbuzz.models.errors import BadBuzzError
from badbuzz.models.serving.model_dir import ModelManifest, load_manifest
from badbuzz.models.serving.preprocessing import get_preprocessor
from badbuzz.models.serving.quantize import quantize_int8_variant

log = logging.getLogger(__name__)
FP32_ATOL = 1e-4


class ParityError(BadBuzzError):
    """The exported graph does not reproduce the PyTorch model within tolerance."""


INT8_MIN_AGREEMENT = 0.99
INT8_MAX_ACCURACY_DROP = 0.005


@dataclass
class ParityReport:
    variant: str
    texts: int
    max_abs_diff: float
    label_agreement: float
    accuracy: float | None = None
    reference_accuracy: float | None = None
    rejected: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "variant" and v is not None}


def model_version(base_model: str, n_labels: int, created: datetime) -> str:
    """``<base>-<n>way-<UTC timestamp>``: readable in dashboards, unique per export."""
    path = Path(base_model)
    name = path.parent.name if path.name in {"model", ""} else path.name
    slug = "".join(c if c.isalnum() or c in "-." else "-" for c in name.lower()).strip("-") or "model"
    return f"{slug[:40]}-{n_labels}way-{created:%Y%m%d%H%M%S}"


FP16_ATOL = 1e-2


def _reduced_precision_problem(r: ParityReport) -> str | None:
    if r.variant == "fp16" and r.max_abs_diff > FP16_ATOL:
        return f"differs from PyTorch by {r.max_abs_diff:.1e} (> {FP16_ATOL:.0e})"
    if r.label_agreement < INT8_MIN_AGREEMENT:
        return f"agrees with PyTorch on {r.label_agreement:.1%} of labels (< {INT8_MIN_AGREEMENT:.0%})"
    if r.accuracy is not None and r.reference_accuracy is not None:
        drop = r.reference_accuracy - r.accuracy
        if drop > INT8_MAX_ACCURACY_DROP:
            return f"loses {drop:.1%} accuracy (> {INT8_MAX_ACCURACY_DROP:.1%})"
    return None


def export(checkpoint: Path, out_dir: Path, *, quantize_int8: bool = True, fp16: bool = True,
           opset: int = 18) -> Path:
    """Checkpoint (from ``badbuzz train``) → ONNX model directory with manifest and tokenizer.

    Variants: ``fp32`` (reference), ``fp16`` (for CUDA: weights and activations in half precision, inputs
    and outputs unchanged) and ``int8`` (dynamic quantisation for CPU). Reduced-precision variants are
    shipped only if :func:`validate` accepts them.
    """
    from optimum.exporters.onnx import main_export
    from tqdm.auto import tqdm

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    meta = json.loads((checkpoint / "training.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = ["onnx fp32", "fp16 + int8 variants", "tokenizer + manifest"]
    with tqdm(total=len(steps), desc="export", unit="step") as bar, tempfile.TemporaryDirectory() as tmp:
        main_export(str(checkpoint), output=tmp, task="text-classification", opset=opset, device="cpu",
                    do_validation=False)
        shutil.copy(Path(tmp) / "model.onnx", out_dir / "model.onnx")
        variants = {"fp32": "model.onnx"}
        bar.update()
        if quantize_int8:
            quantize_int8_variant(out_dir / "model.onnx", out_dir / "model.int8.onnx")
            variants["int8"] = "model.int8.onnx"
        if fp16:
            from badbuzz.models.serving.inference import fp16_graph

            (out_dir / "model.fp16.onnx").write_bytes(fp16_graph(out_dir / "model.onnx"))
            variants["fp16"] = "model.fp16.onnx"
        bar.update()
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            if (checkpoint / name).is_file():
                shutil.copy(checkpoint / name, out_dir / name)
        shutil.copy(checkpoint / "config.json", out_dir / "config.json")
        created = datetime.now(UTC)
        base_model = str(meta.get("config", {}).get("base_model", ""))
        manifest = ModelManifest(
            version=model_version(base_model, len(meta["labels"]), created),
            labels=list(meta["labels"]),
            # the class to catch: negative for sentiment; for other tasks (emotion) the first label (anger)
            negative_label="negative" if "negative" in meta["labels"] else meta["labels"][0],
            max_length=int(meta["max_length"]),
            preprocessing=meta["preprocessing"],
            variants=variants,
            base_model=base_model,
            metrics=meta.get("metrics", {}),
            data_hash=meta.get("data_hash", ""),
            created_at=created.isoformat(),
        )
        manifest.write(out_dir)
        bar.update()
    return out_dir


@dataclass
class DecisionFit:
    weights: dict[str, float]
    texts: int
    argmax_macro_recall: float
    macro_recall: float


def fit_decision_weights(model_dir: Path, texts: list[str], labels: list[int]) -> DecisionFit:
    """Fit the served decision rule on dev tweets (see :mod:`badbuzz.models.serving.decision`) and record it in
    the manifest, with the dev macro recall before and after, so the directory explains its own rule.

    A binary model's rule is also written as the equivalent ``threshold`` on p(negative).
    """
    import numpy as np

    from badbuzz.models.serving.decision import decide, fit_weights, macro_recall
    from badbuzz.models.serving.inference import OnnxSentimentModel

    manifest = load_manifest(model_dir)
    probs = OnnxSentimentModel(model_dir, device="cpu", variant="fp32").predict(texts).probabilities
    gold = np.asarray(labels, dtype=np.int64)
    n = len(manifest.labels)
    weights = [round(w, 4) for w in fit_weights(probs, labels)]
    fit = DecisionFit(
        weights=dict(zip(manifest.labels, weights, strict=True)),
        texts=len(texts),
        argmax_macro_recall=macro_recall(gold, decide(probs), n),
        macro_recall=macro_recall(gold, decide(probs, weights), n),
    )
    manifest.decision_weights = fit.weights
    if n == 2:
        neg = manifest.labels.index(manifest.negative_label)
        w_neg, w_other = fit.weights[manifest.labels[neg]], fit.weights[manifest.labels[1 - neg]]
        manifest.threshold = round(w_other / (w_neg + w_other), 4)
    manifest.metrics = {**manifest.metrics, "dev_macro_recall_argmax": fit.argmax_macro_recall,
                        "dev_macro_recall_decision": fit.macro_recall, "decision_dev_rows": fit.texts}
    manifest.write(model_dir)
    return fit


def validate(
    model_dir: Path, checkpoint: Path, texts: list[str], labels: list[int] | None = None, *, atol: float = FP32_ATOL
) -> list[ParityReport]:
    """Run every variant and the PyTorch model on ``texts``; enforce each variant's tolerance.

    fp32 must match PyTorch's probabilities to ``atol``, or :class:`ParityError` is raised: the export is
    wrong. A reduced-precision variant (int8) must agree on ≥ 99% of labels and, given gold ``labels``, lose
    at most half an accuracy point; one that does not is *not shipped*: it is removed from the manifest
    with the reason recorded, and the scorer falls back to fp32. The reports are written into the
    manifest so the directory carries its own evidence.
    """
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from badbuzz.models.serving.inference import OnnxSentimentModel
    from badbuzz.models.training.train import model_inputs

    manifest = load_manifest(model_dir)
    preprocess = get_preprocessor(manifest.preprocessing)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    ref_parts = []
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            enc = tokenizer([preprocess(t) for t in texts[i : i + 64]], truncation=True,
                            max_length=manifest.max_length, padding=True, return_tensors="pt")
            enc = {k: v for k, v in enc.items() if k in model_inputs(model)}
            ref_parts.append(torch.softmax(model(**enc).logits.float(), dim=-1).numpy())
    reference = np.concatenate(ref_parts)
    reports = []
    for variant in list(manifest.variants):
        onnx_model = OnnxSentimentModel(model_dir, device="cpu", variant=variant)
        probs = onnx_model.predict(texts).probabilities
        report = ParityReport(
            variant=variant,
            texts=len(texts),
            max_abs_diff=float(np.abs(probs - reference).max()),
            label_agreement=float((probs.argmax(1) == reference.argmax(1)).mean()),
        )
        if labels is not None:
            gold = np.asarray(labels)
            report.accuracy = float((probs.argmax(1) == gold).mean())
            report.reference_accuracy = float((reference.argmax(1) == gold).mean())
        reports.append(report)
        if variant == "fp32":
            if report.max_abs_diff > atol:
                raise ParityError(f"fp32 ONNX differs from PyTorch by {report.max_abs_diff:.2e} > {atol:.0e}")
            continue
        report.rejected = _reduced_precision_problem(report)
        if report.rejected:
            log.warning("not shipping the %s variant: %s", variant, report.rejected)
            (model_dir / manifest.variants.pop(variant)).unlink()
    manifest.parity = {r.variant: r.as_dict() for r in reports}
    manifest.write(model_dir)
    return reports
