"""Export a trained checkpoint to a validated ONNX model directory (needs ``pip install badbuzz[train]``).

``export()`` writes files; ``validate()`` compares ONNX Runtime with PyTorch on real texts and raises
:class:`ParityError` when they disagree. They are separate so a directory can be re-validated later.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from badbuzz.export.model_dir import ModelManifest, load_manifest
from badbuzz.models.preprocessing import get_preprocessor
from badbuzz.stream.errors import BadBuzzError

FP32_ATOL = 1e-4


class ParityError(BadBuzzError):
    """The exported graph does not reproduce the PyTorch model within tolerance."""


@dataclass
class ParityReport:
    variant: str
    texts: int
    max_abs_diff: float
    label_agreement: float

    def as_dict(self) -> dict[str, Any]:
        return {"texts": self.texts, "max_abs_diff": self.max_abs_diff, "label_agreement": self.label_agreement}


def export(checkpoint: Path, out_dir: Path, *, quantize_int8: bool = True, opset: int = 18) -> Path:
    """Checkpoint (from ``badbuzz train``) → ONNX model directory with manifest and tokenizer."""
    from optimum.exporters.onnx import main_export
    from tqdm.auto import tqdm

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    meta = json.loads((checkpoint / "training.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = ["onnx fp32", "int8 quantization", "tokenizer + manifest"]
    with tqdm(total=len(steps), desc="export", unit="step") as bar, tempfile.TemporaryDirectory() as tmp:
        main_export(str(checkpoint), output=tmp, task="text-classification", opset=opset, device="cpu",
                    do_validation=False)
        shutil.copy(Path(tmp) / "model.onnx", out_dir / "model.onnx")
        variants = {"fp32": "model.onnx"}
        bar.update()
        if quantize_int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(out_dir / "model.onnx", out_dir / "model.int8.onnx", weight_type=QuantType.QInt8)
            variants["int8"] = "model.int8.onnx"
        bar.update()
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            if (checkpoint / name).is_file():
                shutil.copy(checkpoint / name, out_dir / name)
        shutil.copy(checkpoint / "config.json", out_dir / "config.json")
        created = datetime.now(UTC)
        manifest = ModelManifest(
            version=f"{checkpoint.name}-{created:%Y%m%d%H%M%S}",
            labels=list(meta["labels"]),
            max_length=int(meta["max_length"]),
            preprocessing=meta["preprocessing"],
            variants=variants,
            base_model=str(meta.get("config", {}).get("base_model", "")),
            metrics=meta.get("metrics", {}),
            data_hash=meta.get("data_hash", ""),
            created_at=created.isoformat(),
        )
        manifest.write(out_dir)
        bar.update()
    return out_dir


def validate(model_dir: Path, checkpoint: Path, texts: list[str], *, atol: float = FP32_ATOL) -> list[ParityReport]:
    """Run every variant and the PyTorch model on ``texts``; raise :class:`ParityError` past tolerance.

    fp32 must match probabilities to ``atol``; the quantised int8 graph must agree on ≥ 99% of labels.
    The reports are written into the manifest so the directory carries its own evidence.
    """
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from badbuzz.models.inference import OnnxSentimentModel
    from badbuzz.models.train import model_inputs

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
    for variant in manifest.variants:
        onnx_model = OnnxSentimentModel(model_dir, device="cpu", variant=variant)
        probs = onnx_model.predict(texts).probabilities
        report = ParityReport(
            variant=variant,
            texts=len(texts),
            max_abs_diff=float(np.abs(probs - reference).max()),
            label_agreement=float((probs.argmax(1) == reference.argmax(1)).mean()),
        )
        reports.append(report)
        if variant == "fp32" and report.max_abs_diff > atol:
            raise ParityError(f"fp32 ONNX differs from PyTorch by {report.max_abs_diff:.2e} > {atol:.0e}")
        if variant == "int8" and report.label_agreement < 0.99:
            raise ParityError(f"int8 ONNX agrees with PyTorch on {report.label_agreement:.1%} of labels < 99%")
    manifest.parity = {r.variant: r.as_dict() for r in reports}
    manifest.write(model_dir)
    return reports
