"""The int8 CPU variant, derived from the fp32 graph when a model is loaded.

Why derived and not shipped: a MiniLM-L6 graph in int8 is 23 MB, and the repository has no room for a second
copy of every released model. Dynamic quantization (int8 weights per output channel, activations quantized
per call) is deterministic for a given ONNX Runtime, takes ~2 s, and on this project's CPUs (AVX2 without
VNNI) runs 1.7 × the fp32 graph (docs/benchmarks.md). A model directory serves it by default on CPUs only
once ``badbuzz quantize`` has measured it against the fp32 graph on the quality guard's test sets and
recorded, in the manifest's ``derived.int8``, that it stays within a point of fp32 (``default_on_cpu``).

The same record carries the probabilities the int8 graph gave a few fixed probe texts when it was
qualified. Each load re-derives the graph and compares: a different ONNX Runtime (another quantizer) or a
CPU whose int8 kernels round differently could move the scores, and then the model is served in fp32 with a
warning rather than as something that was never measured.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

METHOD = "onnxruntime dynamic quantization, int8 weights per channel"
PROBE_TOLERANCE = 0.02  # largest |Δp| between a load's derived graph and the qualified one
# Fixed, hand-written probe texts (a mix of classes, lengths, emoji, mentions, links): the qualified int8
# graph's probabilities for them are stored in the manifest and re-checked at every load.
PROBE_TEXTS: tuple[str, ...] = (
    "@AirParadis my flight was cancelled again and nobody at the desk can tell me why",
    "Lost my luggage for the third time this year. Never flying with you again",
    "Thanks @AirParadis, the crew on AP123 were wonderful and we landed early!",
    "Boarding now. Gate 22.",
    "is it just me or is the app down? can't check in http://t.co/abc",
    "4 hour delay, no food vouchers, no updates 😡😡",
    "best upgrade ever 😍 thank you so much",
    "Does anyone know if the lounge in terminal 2 is open on Sundays?",
    "Seat 14C has no legroom whatsoever, my knees hate me",
    "great, another 'technical issue'. love spending my holiday in an airport",
    "The new menu on long-haul flights is actually really good",
    "Flight AP88 to Papeete departs at 10:40",
    "I have been on hold for 2 hours. TWO HOURS.",
    "so happy to be going home :)",
    "my bag arrived before I did, impressive",
    "worst customer service I have ever experienced, absolutely disgusting",
)


# Which MatMuls a derived int8 graph keeps in fp32, tried by ``badbuzz quantize`` in this order (the first that
# passes the gate is recorded in the manifest as ``derived.int8.scheme``; a record without one is ``all``), each
# with the words the model card says it in. ``ffn-output-fp32`` leaves out the one MatMul whose input comes
# straight out of GELU: its activations have outliers one per-call int8 scale cannot hold. On the multilingual
# encoder every MatMul in int8 cost English 2.4 and Portuguese 2.3 points of macro-F1; without these twelve
# every language stays within a point, at 1.74x fp32's speed against about 2x (docs/languages.md).
SCHEME_DESCRIPTIONS: dict[str, str] = {
    "all": "every MatMul with a weight in int8",
    "ffn-output-fp32": "each layer's feed-forward output projection kept in fp32",
}
SCHEMES: tuple[str, ...] = tuple(SCHEME_DESCRIPTIONS)
DEFAULT_SCHEME = "all"


def fp32_nodes(model: Any, scheme: str) -> list[str]:
    """The MatMul nodes of ``model`` that ``scheme`` keeps in fp32 (BERT's ``…/output/dense/MatMul`` outside
    attention; DistilBERT's ``…/ffn/lin2/MatMul``)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown int8 scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    if scheme == "all":
        return []

    def ffn_output(name: str) -> bool:
        bert = name.endswith("/output/dense/MatMul") and "/attention/" not in name
        return bert or name.endswith("/ffn/lin2/MatMul")

    return [n.name for n in model.graph.node if n.op_type == "MatMul" and ffn_output(n.name)]


def int8_graph(fp32: Path | bytes, scheme: str = DEFAULT_SCHEME) -> bytes:
    """The dynamically quantized int8 graph of an fp32 graph (file or serialized model): the MatMuls' weights
    in int8 per output channel, but those ``scheme`` keeps in fp32 (:data:`SCHEMES`), embeddings left in fp32
    (a lookup costs nothing to speed up). Weights stored in fp16 by :mod:`badbuzz.export.weight_storage` are
    restored to fp32 first (the quantizer only sees initializers that feed a MatMul directly). Other choices
    measured: ``export/onnx_export.py`` (``quantize_int8_variant``)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from badbuzz.models.serving.stored_weights import restore_fp32

    model = onnx.load_from_string(fp32) if isinstance(fp32, bytes) else onnx.load(str(fp32))
    restore_fp32(model)
    keep = fp32_nodes(model, scheme)
    with tempfile.TemporaryDirectory(prefix="badbuzz-int8-") as tmp, _quiet_quantizer():
        dst = Path(tmp) / "int8.onnx"  # the quantizer takes the model in memory but writes only to a file
        quantize_dynamic(model, str(dst), per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=keep,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        return dst.read_bytes()


def int8_scheme(record: object) -> str:
    """The scheme a manifest's ``derived.int8`` record was qualified with (``all`` before schemes existed)."""
    scheme = record.get("scheme", DEFAULT_SCHEME) if isinstance(record, dict) else DEFAULT_SCHEME
    return str(scheme)


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """The quantizer logs advice ("consider pre-processing") on the root logger at every call; in a scorer
    that derives int8 at each start it is noise, so its records are dropped while it runs."""
    def not_the_quantizer(record: logging.LogRecord) -> bool:
        return "/onnxruntime/quantization/" not in record.pathname.replace("\\", "/")

    root = logging.getLogger()
    root.addFilter(not_the_quantizer)
    try:
        yield
    finally:
        root.removeFilter(not_the_quantizer)


def probe_probabilities(model: Any) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
    """The model's probabilities (and its branch's) for :data:`PROBE_TEXTS`, each text scored alone: an int8
    score depends on its batch mates, so the probe must not depend on the scorer's sub-batch setting."""
    preds = [model.predict([text]) for text in PROBE_TEXTS]
    main = np.concatenate([p.probabilities for p in preds])
    branches = [p.branch_probabilities for p in preds]
    branch = np.concatenate(branches) if all(b is not None for b in branches) else None
    return main, branch


def probe_mismatch(record: dict[str, Any], probabilities: npt.NDArray[np.float32]) -> str | None:
    """Why this load's int8 probabilities for :data:`PROBE_TEXTS` differ from the qualified ones (``None``:
    they agree within :data:`PROBE_TOLERANCE`)."""
    expected = record.get("probe")
    if not isinstance(expected, list) or not expected:
        return "the manifest records no probe probabilities for int8"
    want = np.asarray(expected, dtype=np.float64)
    if want.shape != probabilities.shape:
        return f"the probe has shape {want.shape} in the manifest and {probabilities.shape} here"
    diff = float(np.abs(want - probabilities).max())
    if diff > PROBE_TOLERANCE:
        return f"int8 probabilities differ from the qualified ones by up to {diff:.3f} (tolerance {PROBE_TOLERANCE})"
    return None


def within_gate(fp32: dict[str, float], int8: dict[str, float], floors: dict[str, float],
                max_drop: dict[str, float]) -> tuple[bool, list[str]]:
    """int8 qualifies when every metric is at most its ``max_drop`` under fp32 and at or above its floor; the
    reasons it does not, otherwise."""
    reasons: list[str] = []
    for key, value in int8.items():
        drop = max_drop.get(key, 0.01)
        if value < fp32[key] - drop:
            reasons.append(f"{key} {value:.4f} is more than {drop:.2f} under fp32's {fp32[key]:.4f}")
        if key in floors and value < floors[key]:
            reasons.append(f"{key} {value:.4f} is under the floor {floors[key]:.2f}")
    return not reasons, reasons


def quantize_int8_variant(fp32: Path, out: Path) -> Path:
    """Dynamic int8 quantisation of the MatMul weights (activations quantised per batch at run time).

    Per-channel weight scales: per-tensor scales flipped ~2% more labels on MiniLM. Tried and not kept
    (MiniLM 3-way, 1,000 dev tweets): fusing the graph first with ``onnxruntime.transformers.optimizer``
    (97.7% agreement, no faster: ORT fuses at load anyway), excluding attention, FFN or the first/last
    layer from quantisation (97.3-98.3%), ``reduce_range`` (98.3%), 8-bit block-wise ``MatMulNBits``
    (99.4-99.9% agreement but slower than fp32 on this CPU), uint8 weights (97.6%, 1.3x instead of 1.6x) and
    static quantisation calibrated on 256 training tweets (MinMax 91.6%, 99.99th percentile 94.3%, both slower).
    """
    out.write_bytes(int8_graph(fp32))  # the same int8 that CPUs derive at load from a released directory
    return out
