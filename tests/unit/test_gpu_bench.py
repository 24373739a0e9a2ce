"""bench/gpu_bench.py gives PyTorch the released graph's own weights: checked here on the tiny DistilBERT, on CPU
(the GPU run itself needs a CUDA machine: `make gpu-bench`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from badbuzz.models.serving.inference import OnnxSentimentModel
from tests.conftest import SAMPLE_TEXTS

ROOT = Path(__file__).resolve().parents[2]


def load_bench() -> object:
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "bench" / "gpu_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pytorch_gets_the_onnx_graphs_weights(tiny_model_dir: Path) -> None:
    bench = load_bench()
    ort_model = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32")
    model = bench.torch_model(tiny_model_dir, tiny_model_dir / "model.onnx", "cpu", torch.float32)  # type: ignore[attr-defined]
    feeds = ort_model.feeds(ort_model.encode(SAMPLE_TEXTS))
    feeds.pop("token_type_ids", None)
    with torch.inference_mode():
        logits = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits
    probs = torch.softmax(logits, -1).numpy()
    expected = np.concatenate([ort_model.predict([t]).probabilities for t in SAMPLE_TEXTS])
    np.testing.assert_allclose(probs, expected, atol=1e-5)
