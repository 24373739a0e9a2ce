"""Half-size model files that still compute in fp32: weights stored as fp16, cast back inside the graph.

A MiniLM-L6 graph is 91 MB in fp32, over the repository's 50 MB per-file limit, and a fully fp16 graph is
slow and less exact on CPUs. Instead every large fp32 initializer ``W`` is stored as ``W__fp16`` and a
``Cast(to=FLOAT)`` node at the head of the graph recreates ``W``. The file is a plain, valid ONNX model
(any ONNX tool opens it); ONNX Runtime folds the casts into fp32 constants when the session is created,
so the running graph, its fusions and its speed are those of the fp32 model, with weights rounded to fp16
(logits move by ~1e-5 on MiniLM; the release records the measured difference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from badbuzz.models.serving.stored_weights import INT8_SUFFIX, SCALE_SUFFIX, SUFFIX

MIN_ELEMENTS = 1024  # small tensors (biases, LayerNorm) stay fp32: they save nothing and matter most


def store_weights_fp16(src: Path, dst: Path, *, min_elements: int = MIN_ELEMENTS) -> int:
    """Write ``src`` (an fp32 ONNX file) to ``dst`` with its large float initializers stored in fp16.

    Returns the number of tensors converted. ``src`` already in this form is refused, so a release can't
    round twice.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    if any(init.name.endswith(SUFFIX) for init in graph.initializer):
        raise ValueError(f"{src} already stores its weights in fp16")
    casts, halves = [], []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + SUFFIX)
        halves.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + SUFFIX + "_to_fp32"))
        graph.initializer.remove(init)
    return _save_with(model, halves, casts, dst)


def _save_with(model: Any, initializers: list[Any], nodes: list[Any], dst: Path) -> int:
    """Add the stored initializers and the nodes that recreate the weights (at the head of the graph), check,
    save; returns the number of weights stored this way."""
    import onnx

    graph = model.graph
    graph.initializer.extend(initializers)
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return len(nodes)


def store_weights_int8(src: Path, dst: Path, *, min_elements: int = MIN_ELEMENTS) -> int:
    """Write ``src`` (fp32 ONNX) to ``dst`` with its large 2-D weights stored as int8, one fp32 scale per
    output channel (per row of an embedding table, per column of a MatMul's weight), recreated in the graph
    by ``DequantizeLinear``. A quarter of the fp32 size: what lets a 12-layer multilingual encoder with a
    58k-piece vocabulary fit in one file under 50 MB. Symmetric, weight-only: activations stay fp32, so the
    error is that of rounding each weight to 1/254 of its channel's range (the release measures it).
    :func:`restore_fp32` turns it back into fp32 initializers at load. Returns the tensors converted."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    if any(init.name.endswith((SUFFIX, INT8_SUFFIX)) for init in graph.initializer):
        raise ValueError(f"{src} already stores its weights in reduced precision")
    matmul_b = {node.input[1] for node in graph.node if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1}
    nodes, stored = [], []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or len(init.dims) != 2 or int(np.prod(init.dims)) < min_elements:
            continue
        weights = numpy_helper.to_array(init)
        axis = 1 if init.name in matmul_b else 0  # the output channel: a MatMul's column, a table's row
        peak = np.abs(weights).max(axis=1 - axis)
        scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        shape = (1, -1) if axis == 1 else (-1, 1)
        q = np.clip(np.rint(weights / scale.reshape(shape)), -127, 127).astype(np.int8)
        stored += [numpy_helper.from_array(q, init.name + INT8_SUFFIX),
                   numpy_helper.from_array(scale, init.name + SCALE_SUFFIX)]
        nodes.append(helper.make_node("DequantizeLinear", [init.name + INT8_SUFFIX, init.name + SCALE_SUFFIX],
                                      [init.name], axis=axis, name=init.name + INT8_SUFFIX + "_to_fp32"))
        graph.initializer.remove(init)
    return _save_with(model, stored, nodes, dst)
