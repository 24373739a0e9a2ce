"""ONNX Runtime inference for the scorer: fast tokenizer + length-bucketed batches, no torch.

Texts are preprocessed with the version recorded in the model directory, tokenized in one Rust call,
sorted by length and cut into sub-batches padded only to their own longest sequence: a batch of short
tweets never pays for one long one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from badbuzz.export.model_dir import InvalidModelDir, ModelManifest, load_manifest
from badbuzz.models.decision import decide
from badbuzz.models.preprocessing import get_preprocessor
from badbuzz.stream.errors import BadBuzzError

log = logging.getLogger(__name__)


class DeviceUnavailable(BadBuzzError):
    """``device=cuda`` was asked for and ONNX Runtime could not start its CUDA provider."""


def length_buckets(lengths: Sequence[int], max_batch: int) -> list[list[int]]:
    """Indices grouped into sub-batches of similar length (sorted, then cut every ``max_batch``)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + max_batch] for i in range(0, len(order), max_batch)]


def gpu_present() -> bool:
    """Whether an NVIDIA device node exists; avoids asking ONNX Runtime for CUDA on machines without one."""
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/version")


GPU_VARIANTS = ("fp16", "fp32")  # fp16 is derived from fp32 at load when the directory ships only fp32


def cpu_variant(manifest: ModelManifest, requested: str | None) -> str:
    """The CPU variant: the one asked for, else int8 when the directory ships it, else fp32."""
    if requested:
        if requested not in manifest.variants:
            raise InvalidModelDir(f"variant {requested!r} not in model directory ({sorted(manifest.variants)})")
        return requested
    return "int8" if "int8" in manifest.variants else "fp32"


def gpu_variant(manifest: ModelManifest, requested: str | None) -> str:
    """The CUDA variant: the one asked for, else fp16 (shipped, or derived from fp32 at load)."""
    if requested:
        if requested not in manifest.variants and not (requested == "fp16" and "fp32" in manifest.variants):
            raise InvalidModelDir(f"variant {requested!r} not in model directory ({sorted(manifest.variants)})")
        return requested
    return "fp16"


def wants_cuda(device: str) -> bool:
    return device == "cuda" or (device == "auto" and gpu_present())


def cuda_provider(device_id: int = 0, mem_limit_mb: int = 0) -> tuple[str, dict[str, Any]]:
    """The CUDA execution provider with its options (device id, arena limit; 0 = no limit)."""
    opts: dict[str, Any] = {"device_id": device_id, "cudnn_conv_algo_search": "HEURISTIC"}
    if mem_limit_mb > 0:
        opts["gpu_mem_limit"] = mem_limit_mb * 1024 * 1024
        opts["arena_extend_strategy"] = "kSameAsRequested"
    return "CUDAExecutionProvider", opts


def fp16_graph(fp32_path: Path) -> bytes:
    """An fp16 copy of an fp32 graph for CUDA (weights and activations in half precision, inputs and outputs
    unchanged); made in memory when a directory ships only fp32, so the repository carries one graph."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    data: bytes = half.SerializeToString()
    return data


@dataclass(frozen=True)
class Prediction:
    labels: list[str]
    probabilities: npt.NDArray[np.float32]  # shape (n, n_labels)
    weights: tuple[float, ...] | None = None  # the model directory's decision weights, in label order
    # per text: emotion probabilities (anger, joy, ...) or None where emotion was not run (see scoring.py)
    emotions: list[dict[str, float] | None] | None = None
    emotion_model: str | None = None

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
        cuda_device_id: int = 0,
        cuda_mem_limit_mb: int = 0,
        bucketing: bool = True,
    ) -> None:
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.manifest = load_manifest(self.model_dir)
        self.max_batch = max_batch
        self._preprocess = get_preprocessor(self.manifest.preprocessing)
        self._tokenizer = Tokenizer.from_file(str(self.model_dir / self.manifest.tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.manifest.max_length)
        pad = self._tokenizer.token_to_id("[PAD]")
        self._pad_id = 0 if pad is None else pad
        self._threads = threads
        self.bucketing = bucketing  # off only to measure what it saves (badbuzz bench)
        self._session: Any = None
        if wants_cuda(device):
            self._session, self.variant = self._cuda_session(variant, cuda_device_id, cuda_mem_limit_mb)
            if self._session is None:
                if device == "cuda":
                    raise DeviceUnavailable(
                        "BADBUZZ_DEVICE=cuda, but ONNX Runtime could not start its CUDA provider (available: "
                        f"{', '.join(self._available_providers())}). Install onnxruntime-gpu with CUDA 12 and "
                        "cuDNN 9 (or use the CUDA image), check that the GPU is visible (nvidia-smi), or set "
                        "BADBUZZ_DEVICE=cpu.")
                log.warning("no working CUDA provider (available: %s): scoring on the CPU",
                            ", ".join(self._available_providers()))
        if self._session is None:
            self.variant = cpu_variant(self.manifest, variant)
            self._session = self._open(self.model_dir / self.manifest.variants[self.variant], ["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.providers: list[str] = list(self._session.get_providers())

    @staticmethod
    def _available_providers() -> list[str]:
        import onnxruntime as ort

        return list(ort.get_available_providers())

    def _open(self, source: Path | bytes, providers: list[Any]) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if self._threads > 0:
            opts.intra_op_num_threads = self._threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(source if isinstance(source, bytes) else str(source), opts,
                                        providers=providers)
        except Exception as exc:  # ORT raises its own untyped errors for corrupt files
            where = source if isinstance(source, Path) else self.model_dir
            raise InvalidModelDir(f"ONNX Runtime cannot load {where}: {exc}") from exc

    def _cuda_session(self, requested: str | None, device_id: int, mem_limit_mb: int) -> tuple[Any, str]:
        """A session whose first provider really is CUDA, or None: the variant is chosen only once the
        provider is known to work (ORT silently falls back to CPU when CUDA libraries are missing, and an
        fp16 graph on a CPU is slow)."""
        if "CUDAExecutionProvider" not in self._available_providers():
            return None, ""
        variant = gpu_variant(self.manifest, requested)
        source: Path | bytes = (self.model_dir / self.manifest.variants[variant] if variant in self.manifest.variants
                                else fp16_graph(self.model_dir / self.manifest.variants["fp32"]))
        session = self._open(source, [cuda_provider(device_id, mem_limit_mb), "CPUExecutionProvider"])
        if session.get_providers()[0] != "CUDAExecutionProvider":
            return None, ""
        return session, variant

    def warm_up(self) -> None:
        """One batch of the longest shape before the first real one: CUDA kernels and the CPU arena are set
        up here, not on the first tweets (whose latency would otherwise jump)."""
        self.predict(["warm-up " * (self.manifest.max_length // 2)] * min(self.max_batch, 8))

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

    @property
    def negative_label(self) -> str:
        return self.manifest.negative_label

    def predict(self, texts: Sequence[str]) -> Prediction:
        n_labels = len(self.manifest.labels)
        out = np.zeros((len(texts), n_labels), dtype=np.float32)
        if not texts:
            return Prediction(self.labels, out, self.weights)
        encodings = self._tokenizer.encode_batch([self._preprocess(t) for t in texts])
        lengths = [len(e.ids) for e in encodings]
        chunks = (length_buckets(lengths, self.max_batch) if self.bucketing else
                  [list(range(i, min(i + self.max_batch, len(texts)))) for i in range(0, len(texts), self.max_batch)])
        for idx in chunks:
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
