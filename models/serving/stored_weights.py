"""How a model file may store its weights, read back at load: fp16 or int8-per-channel initializers, each
followed by a ``Cast`` or ``DequantizeLinear`` node, are turned back into plain fp32 initializers.

Serving reads this; ``export/weight_storage.py`` writes it (so serving never imports the export tools).
"""

from __future__ import annotations

from typing import Any

SUFFIX = "__fp16"
INT8_SUFFIX = "__int8"  # int8 storage: W__int8 (int8) and W__scale (fp32, per output channel)
SCALE_SUFFIX = "__scale"


def restore_fp32(model: Any) -> int:
    """Turn fp16 or int8 storage back into plain fp32 initializers, in place (for tools that need to see the
    weights as initializers, such as the int8 quantizer, and for ONNX Runtime, which keeps int8
    ``DequantizeLinear`` weights unfolded and would dequantize them at every run); returns the number of
    tensors restored."""
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    halves = {init.name: init for init in graph.initializer if init.name.endswith((SUFFIX, INT8_SUFFIX, SCALE_SUFFIX))}
    if not halves:
        return 0
    keep, restored = [], 0
    for node in graph.node:
        if node.op_type == "Cast" and len(node.input) == 1 and node.input[0] in halves:
            weights = numpy_helper.to_array(halves[node.input[0]]).astype(np.float32)
            graph.initializer.append(numpy_helper.from_array(weights, node.output[0]))
            restored += 1
        elif node.op_type == "DequantizeLinear" and node.input[0] in halves and node.input[0].endswith(INT8_SUFFIX):
            q = numpy_helper.to_array(halves[node.input[0]]).astype(np.float32)
            scale = numpy_helper.to_array(halves[node.input[1]])
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = [1] * q.ndim
            shape[axis] = -1
            graph.initializer.append(numpy_helper.from_array(q * scale.reshape(shape), node.output[0]))
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
