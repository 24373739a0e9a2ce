"""ONNX graph surgery for a second head on the encoder (emotions on the sentiment model's encoder): find a
layer's output, expose it, prune what a head does not need, merge a head into the trunk's graph.

Serving needs this at load (models/serving/inference.py) and training at export; it imports neither torch nor the
trainer (models/training/branch.py), so the scorer's image can do without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BRANCH_PREFIX = "branch/"
BRANCH_OUTPUT = BRANCH_PREFIX + "logits"


# ---------------------------------------------------------------------------------------------- ONNX side
def layer_output(graph: Any, layer: int) -> str:
    """The tensor holding the output of encoder layer ``layer`` (0-based) in an exported BERT-family graph:
    the last LayerNormalization of that layer (its output LayerNorm)."""
    marks = (f"/layer.{layer}/", f"/layer.{layer}.")
    found = [n.output[0] for n in graph.node if n.op_type == "LayerNormalization" and any(m in n.name for m in marks)]
    if not found:
        raise ValueError(f"no encoder layer {layer} in this graph (expected LayerNormalization nodes named "
                         f"'.../layer.{layer}/...')")
    return str(found[-1])


def count_layers(graph: Any) -> int:
    n = 0
    while True:
        try:
            layer_output(graph, n)
        except ValueError:
            return n
        n += 1


def expose(model: Any, tensor: str) -> Any:
    """``model`` with ``tensor`` also returned as a graph output (to read the trunk's hidden states)."""
    from onnx import TensorProto, helper

    if tensor not in {o.name for o in model.graph.output}:
        model.graph.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None))
    return model


def prune(model: Any, outputs: Sequence[str]) -> Any:
    """``model`` cut down to what computes the tensors ``outputs``, with no graph outputs left (the heads
    merged next add theirs): a head that reads layer 3 of a six-layer encoder runs four layers, not six."""
    g = model.graph
    producer = {o: i for i, n in enumerate(g.node) for o in n.output}
    needed, keep, stack = set(outputs), set(), list(outputs)
    while stack:
        i = producer.get(stack.pop())
        if i is None or i in keep:
            continue
        keep.add(i)
        for name in g.node[i].input:
            if name and name not in needed:
                needed.add(name)
                stack.append(name)
    nodes = [n for i, n in enumerate(g.node) if i in keep]
    inits = [t for t in g.initializer if t.name in needed]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.output[:]
    return model


def merge_branch(trunk: Any, branch: Any, tensor: str, *, prefix: str = BRANCH_PREFIX,
                 output: str | None = None) -> Any:
    """One graph computing the trunk's outputs and the branch's ``logits`` (as ``branch/logits``, or as
    ``output`` when given: a head that *is* the model's answer is named ``logits``).

    The branch graph's inputs are ``hidden_states`` (fed by the trunk's ``tensor``) and ``attention_mask``
    (the trunk's own input); everything else of the branch is renamed under ``prefix`` so no name clashes.
    """
    import onnx

    feeds = {"hidden_states": tensor, "attention_mask": "attention_mask"}
    if output is not None:
        feeds["logits"] = output

    def rename(name: str) -> str:
        return feeds.get(name, prefix + name) if name else name

    g = branch.graph
    merged = onnx.ModelProto()
    merged.CopyFrom(trunk)
    for init in g.initializer:
        copy = merged.graph.initializer.add()
        copy.CopyFrom(init)
        copy.name = rename(init.name)
    for node in g.node:
        copy = merged.graph.node.add()
        copy.CopyFrom(node)
        copy.name = prefix + node.name
        copy.input[:] = [rename(i) for i in node.input]
        copy.output[:] = [rename(o) for o in node.output]
    for out in g.output:
        copy = merged.graph.output.add()
        copy.CopyFrom(out)
        copy.name = rename(out.name)
    have = {o.domain for o in merged.opset_import}
    for op in branch.opset_import:
        if op.domain not in have:
            merged.opset_import.add().CopyFrom(op)
    onnx.checker.check_model(merged)
    return merged


# --------------------------------------------------------------------------------------------- torch side
