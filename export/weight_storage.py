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

SUFFIX = "__fp16"
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
    graph.initializer.extend(halves)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return len(casts)


def stores_fp16(path: Path) -> bool:
    """Whether an ONNX file uses this storage (cheap: reads the graph without the weights' data)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(init.name.endswith(SUFFIX) for init in model.graph.initializer)


def restore_fp32(model: Any) -> int:
    """Turn this storage back into plain fp32 initializers, in place (for tools that need to see the weights
    as initializers, such as the int8 quantizer); returns the number of tensors restored."""
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    halves = {init.name: init for init in graph.initializer if init.name.endswith(SUFFIX)}
    if not halves:
        return 0
    keep, restored = [], 0
    for node in graph.node:
        if node.op_type == "Cast" and len(node.input) == 1 and node.input[0] in halves:
            weights = numpy_helper.to_array(halves[node.input[0]]).astype(np.float32)
            graph.initializer.append(numpy_helper.from_array(weights, node.output[0]))
            restored += 1
        else:
            keep.append(node)
    used = {name for node in keep for name in node.input}
    for name, init in halves.items():
        if name not in used:
            graph.initializer.remove(init)
    del graph.node[:]
    graph.node.extend(keep)
    return restored
