"""ONNX Runtime inference for the scorer: fast tokenizer + length-bucketed batches, no torch.

Texts are preprocessed with the version recorded in the model directory, tokenized in one Rust call,
sorted by length and cut into sub-batches padded only to their own longest sequence: a batch of short
tweets never pays for one long one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from badbuzz.export.model_dir import InvalidModelDir, ModelManifest, load_manifest
from badbuzz.models.decision import decide
from badbuzz.models.preprocessing import get_preprocessor


def length_buckets(lengths: Sequence[int], max_batch: int) -> list[list[int]]:
    """Indices grouped into sub-batches of similar length (sorted, then cut every ``max_batch``)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + max_batch] for i in range(0, len(order), max_batch)]


def gpu_present() -> bool:
    """Whether an NVIDIA device node exists; avoids asking ONNX Runtime for CUDA on machines without one."""
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/version")


def choose_variant(manifest: ModelManifest, device: str, requested: str | None) -> tuple[str, list[str]]:
    """Pick the ONNX variant and execution providers: fp16 on CUDA, int8 on CPU, fp32 as the fallback."""
    if requested:
        if requested not in manifest.variants:
            raise InvalidModelDir(f"variant {requested!r} not in model directory ({sorted(manifest.variants)})")
        variant = requested
    else:
        variant = ""
    use_cuda = device == "cuda" or (device == "auto" and gpu_present())
    if use_cuda:
        variant = variant or ("fp16" if "fp16" in manifest.variants else "fp32")
        return variant, ["CUDAExecutionProvider", "CPUExecutionProvider"]
    variant = variant or ("int8" if "int8" in manifest.variants else "fp32")
    return variant, ["CPUExecutionProvider"]


@dataclass(frozen=True)
class Prediction:
    labels: list[str]
    probabilities: npt.NDArray[np.float32]  # shape (n, n_labels)
    weights: tuple[float, ...] | None = None  # the model directory's decision weights, in label order

    def decisions(self) -> npt.NDArray[np.int64]:
        """Decided class index per text (the model's decision rule, see :mod:`badbuzz.models.decision`)."""
        return decide(self.probabilities, self.weights)

    def label_of(self, i: int) -> str:
        return self.labels[int(decide(self.probabilities[i : i + 1], self.weights)[0])]

    def decided_labels(self) -> list[str]:
        return [self.labels[int(i)] for i in self.decisions()]


class OnnxSentimentModel:
    """A loaded model directory: ``predict(texts)`` → per-class probabilities."""

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        variant: str | None = None,
        threads: int = 0,
        max_batch: int = 64,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.manifest = load_manifest(self.model_dir)
        self.variant, providers = choose_variant(self.manifest, device, variant)
        self.max_batch = max_batch
        self._preprocess = get_preprocessor(self.manifest.preprocessing)
        self._tokenizer = Tokenizer.from_file(str(self.model_dir / self.manifest.tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.manifest.max_length)
        pad = self._tokenizer.token_to_id("[PAD]")
        self._pad_id = 0 if pad is None else pad
        opts = ort.SessionOptions()
        if threads > 0:
            opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = self.model_dir / self.manifest.variants[self.variant]
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as exc:  # ORT raises its own untyped errors for corrupt files
            raise InvalidModelDir(f"ONNX Runtime cannot load {path}: {exc}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.providers = self._session.get_providers()

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    @property
    def weights(self) -> tuple[float, ...] | None:
        w = self.manifest.decision_weights
        return tuple(float(w[label]) for label in self.manifest.labels) if w else None

    @property
    def version(self) -> str:
        return f"{self.manifest.version}:{self.variant}"

    def predict(self, texts: Sequence[str]) -> Prediction:
        n_labels = len(self.manifest.labels)
        out = np.zeros((len(texts), n_labels), dtype=np.float32)
        if not texts:
            return Prediction(self.labels, out, self.weights)
        encodings = self._tokenizer.encode_batch([self._preprocess(t) for t in texts])
        lengths = [len(e.ids) for e in encodings]
        for idx in length_buckets(lengths, self.max_batch):
            width = max(lengths[i] for i in idx)
            ids = np.full((len(idx), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            (logits,) = self._session.run(["logits"], feeds)
            out[idx] = softmax(np.asarray(logits, dtype=np.float32))
        return Prediction(self.labels, out, self.weights)


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    out: npt.NDArray[np.float32] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return out
