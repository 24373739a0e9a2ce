"""Export a trained branch (models/training/branch.py) to a model directory that runs on its trunk's encoder.

The directory holds the branch graph alone (inputs ``hidden_states`` and ``attention_mask``, output
``logits``) and a manifest whose ``trunk`` names the sentiment model file it was trained on (SHA-256), the
tensor it reads, and the trunk's usual location. Before anything is written for good, the branch is joined
to its trunk and checked against PyTorch on the dev tweets' hidden states; decision weights are fitted on
the dev tweets as for any model (models/serving/decision.py).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from badbuzz.export.onnx_export import FP32_ATOL, ParityError
from badbuzz.models.serving.model_dir import ModelManifest, load_manifest, sha256_of

BRANCH_MAX_DIFF = FP32_ATOL * 10  # the branch alone, ORT vs PyTorch, fp32 on the same hidden states


def export_branch(run_dir: Path, out_dir: Path, *, opset: int = 18) -> Path:
    """``run_dir`` is a ``badbuzz train-branch`` output; writes ``out_dir`` (model.onnx + manifest)."""
    import onnxruntime as ort
    import torch
    from tqdm.auto import tqdm

    from badbuzz.models.serving.branch_graph import layer_output
    from badbuzz.models.serving.decision import calibration_rows, decide, fit_weights, macro_recall
    from badbuzz.models.training.branch import META, Features, branch_module

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    meta = json.loads((run_dir / META).read_text())
    cfg = meta["config"]
    trunk_dir = Path(cfg["trunk"])
    trunk = load_manifest(trunk_dir)
    trunk_file = trunk_dir / trunk.variants["fp32"]
    if sha256_of(trunk_file) != meta["trunk_sha256"]:
        raise ParityError(f"{trunk_file} changed since the branch was trained on it (SHA-256 differs): retrain")
    module = branch_module(cfg["init"], int(meta["layers"]))
    module.load_state_dict(torch.load(run_dir / "best.pt"))
    module.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tqdm(total=3, desc="export branch", unit="step") as bar, tempfile.TemporaryDirectory() as tmp:
        hidden = torch.zeros(2, 7, int(np.load(run_dir / "cache-states.npy", mmap_mode="r").shape[1]))
        mask = torch.ones(2, 7, dtype=torch.int64)
        raw = Path(tmp) / "branch.onnx"
        torch.onnx.export(module, (hidden, mask), str(raw), input_names=["hidden_states", "attention_mask"],
                          output_names=["logits"], opset_version=opset, dynamo=False,
                          dynamic_axes={"hidden_states": {0: "batch", 1: "sequence"},
                                        "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}})
        bar.update()
        # parity of the branch graph alone, on real hidden states of dev tweets
        states = np.load(run_dir / "cache-states.npy", mmap_mode="r")
        offsets = np.load(run_dir / "cache-offsets.npy")
        dev_rows = np.flatnonzero(np.load(run_dir / "dev-mask.npy"))[:256]
        x, m = Features(states, offsets).batch(dev_rows.tolist())
        session = ort.InferenceSession(str(raw), providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}  # a head without layers has no use for the mask
        feeds = {k: v for k, v in {"hidden_states": x, "attention_mask": m}.items() if k in wanted}
        (onnx_logits,) = session.run(["logits"], feeds)
        with torch.no_grad():
            torch_logits = module(torch.from_numpy(x), torch.from_numpy(m)).numpy()
        diff = float(np.abs(onnx_logits - torch_logits).max())
        if diff > BRANCH_MAX_DIFF:
            raise ParityError(f"the branch graph differs from PyTorch by {diff:.1e} (> {BRANCH_MAX_DIFF:.0e})")
        shutil.copy(raw, out_dir / "model.onnx")
        bar.update()
        import onnx

        tensor = layer_output(onnx.load(str(trunk_file), load_external_data=False).graph, int(meta["layer"]))
        dev_probs = np.load(run_dir / "dev-probs.npy")
        gold = np.load(run_dir / "dev-gold.npy")
        labels = list(meta["labels"])
        # fitted on the dev rows of sets that use every class (models/serving/decision.py), as for any model
        sources_file = run_dir / "dev-sources.json"
        sources = json.loads(sources_file.read_text()) if sources_file.is_file() else [""] * len(gold)
        rows = calibration_rows(sources, gold.tolist(), len(labels))
        weights = [round(w, 4) for w in fit_weights(dev_probs[rows], gold[rows].tolist())]
        created = datetime.now(UTC)
        manifest = ModelManifest(
            version=f"{Path(cfg['init']).name}-branch{meta['layers']}-{len(labels)}way-{created:%Y%m%d%H%M%S}",
            labels=labels, negative_label="negative" if "negative" in labels else labels[0],
            max_length=int(trunk.max_length), preprocessing=trunk.preprocessing, variants={"fp32": "model.onnx"},
            tokenizer="", base_model=str(cfg["init"]), task="branch",
            decision_weights=dict(zip(labels, weights, strict=True)),
            metrics={"dev_rows": len(gold), "dev_macro_f1": meta["best"]["dev_macro_f1"],
                     "dev_macro_recall_argmax": macro_recall(gold, decide(dev_probs), len(labels)),
                     "dev_macro_recall_decision": macro_recall(gold, decide(dev_probs, weights), len(labels)),
                     "decision_dev_rows": len(rows), "steps": meta["steps"], "training_rows": meta["rows"],
                     "labelled_rows": meta["labelled_rows"]},
            parity={"branch_vs_torch": {"texts": len(dev_rows), "max_abs_logit_diff": diff}},
            created_at=created.isoformat(),
            trunk={"version": trunk.version, "sha256": meta["trunk_sha256"], "tensor": tensor,
                   "layer": int(meta["layer"]), "branch_layers": int(meta["layers"]),
                   "trunk_layers": int(meta["layer"]) + 1 + int(meta["layers"]),
                   "dir": os.path.relpath(trunk_dir.resolve(), out_dir.resolve())},
        )
        manifest.write(out_dir)
        bar.update()
    return out_dir
