"""GPU bench (issue 14, point 7): the served model on ONNX Runtime's CUDA provider (fp16 derived at load, as
``BADBUZZ_DEVICE=cuda`` serves it) against PyTorch fp16 on the same GPU, same texts, same run.

PyTorch gets the *same weights*: they are read back from the released ONNX graph (MatMul weights by the node
that uses them, transposed), and its fp32 scores are checked against ONNX Runtime's before anything is timed.
Needs torch, transformers, tokenizers, onnx and onnxruntime-gpu; no training data (``--texts`` is a file of
one tweet per line). Writes a JSON report and prints a Markdown table.

    make gpu-bench    # = python bench/gpu_bench.py --data ../shared/data --out reports/gpu-bench.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def state_dict_from_onnx(graph_path: Path) -> dict[str, Any]:
    """The PyTorch state dict of a BERT-style classifier exported to ONNX (fp16-stored weights restored)."""
    import onnx
    import torch
    from onnx import numpy_helper

    from badbuzz.models.serving.stored_weights import restore_fp32

    model = onnx.load(str(graph_path))
    restore_fp32(model)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    state: dict[str, Any] = {}
    for name, value in inits.items():
        if not name.startswith("onnx::"):
            state[name] = torch.from_numpy(value.copy())
    for node in model.graph.node:  # MatMul weights were renamed by the exporter: name them by their node
        if node.op_type == "MatMul" and node.input[1] in inits and node.input[1].startswith("onnx::"):
            key = node.name.strip("/").replace("/", ".").removesuffix(".MatMul") + ".weight"
            state[key] = torch.from_numpy(inits[node.input[1]].T.copy())
    return state


def torch_model(model_dir: Path, graph: Path, device: str, dtype: Any) -> Any:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_config(config)
    missing, unexpected = model.load_state_dict(state_dict_from_onnx(graph), strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise SystemExit(f"weights do not map: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval().to(device=device, dtype=dtype)


def timed(fn: Any, batches: list[Any], sync: Any, repeats: int = 3) -> float:
    """Best of ``repeats`` passes over every batch, tweets/s."""
    n = sum(len(b[0]) if isinstance(b, tuple) else len(b) for b in batches)
    best = 0.0
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        for b in batches:
            fn(b)
        sync()
        best = max(best, n / (time.perf_counter() - t))
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=Path("models/released/sentiment3"))
    ap.add_argument("--texts", type=Path, help="one tweet per line (default: 4,096 tweets of --data)")
    ap.add_argument("--data", type=Path, help="a Sentiment140 file or folder (e.g. ../shared/data)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()

    import onnxruntime as ort
    import torch

    from badbuzz.models.serving.inference import OnnxSentimentModel

    if args.texts is not None:
        texts = [t for t in args.texts.read_text().splitlines() if t.strip()]
    elif args.data is not None:
        from badbuzz.models.data import find_sentiment140
        from badbuzz.stream.sources.replay import shuffled_rows

        texts = [r.text for r in shuffled_rows(find_sentiment140(args.data), seed=11, limit=4096)]
    else:
        raise SystemExit("pass --texts FILE or --data FOLDER")
    dev = args.device
    report: dict[str, Any] = {"texts": len(texts), "python": sys.version.split()[0], "machine": platform.node(),
                              "onnxruntime": ort.__version__, "providers_available": ort.get_available_providers(),
                              "torch": torch.__version__, "rows": []}
    if dev == "cuda":
        report["gpu"] = torch.cuda.get_device_name(0)
        if hasattr(ort, "preload_dlls"):  # CUDA and cuDNN from the nvidia-* wheels torch brought
            ort.preload_dlls()

    def sync() -> None:
        if dev == "cuda":
            torch.cuda.synchronize()

    # ONNX Runtime as the product serves it: the variant is chosen once the provider is known to work
    t = time.perf_counter()
    served = OnnxSentimentModel(args.model, device=dev, max_batch=16)
    served.warm_up()
    report["ort_load_s"] = round(time.perf_counter() - t, 2)
    report["ort_served"] = {"version": served.version, "providers": served.providers}
    fp32 = OnnxSentimentModel(args.model, device=dev, variant="fp32", max_batch=16)
    fp32.warm_up()
    p16 = np.concatenate([served.predict(texts[i:i + 256]).probabilities for i in range(0, len(texts), 256)])
    p32 = np.concatenate([fp32.predict(texts[i:i + 256]).probabilities for i in range(0, len(texts), 256)])
    report["ort_served_vs_fp32"] = {"max_abs_diff": float(np.abs(p16 - p32).max()),
                                  "label_agreement": float((p16.argmax(1) == p32.argmax(1)).mean())}

    # PyTorch with the same weights, checked against ONNX Runtime fp32 first
    graph = args.model / served.trunk.variants["fp32"]
    tm32 = torch_model(args.model, graph, dev, torch.float32)
    tm16 = torch_model(args.model, graph, dev, torch.float16)

    def feeds(batch: list[str], sub: int) -> list[dict[str, Any]]:
        ids = served.encode(batch)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i])) if sub < len(batch) else list(range(len(ids)))
        out = []
        for i in range(0, len(order), sub):
            f = served.feeds([ids[j] for j in order[i:i + sub]])
            out.append({k: torch.from_numpy(v).to(dev) for k, v in f.items()})
        return out

    @torch.inference_mode()
    def torch_probs(model: Any, batch: list[str], sub: int) -> None:
        for f in feeds(batch, sub):
            torch.softmax(model(**f).logits.float(), dim=-1).cpu()

    with torch.inference_mode():
        f = feeds(texts[:256], 256)[0]
        pt = torch.softmax(tm32(**f).logits.float(), -1).cpu().numpy()
        pt16 = torch.softmax(tm16(**f).logits.float(), -1).cpu().numpy()
    ref = fp32.predict(texts[:256]).probabilities
    report["torch_fp32_vs_ort_fp32_max_abs_diff"] = float(np.abs(pt - ref).max())
    report["torch_fp16_vs_ort_fp32_max_abs_diff"] = float(np.abs(pt16 - ref).max())
    if report["torch_fp32_vs_ort_fp32_max_abs_diff"] > 1e-3:
        raise SystemExit(f"PyTorch does not reproduce the ONNX graph: {report}")

    for batch in args.batch:
        batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
        rows = {
            f"onnxruntime {served.variant} ({served.providers[0]}), as served (sub-batches of 16)":
                timed(lambda b: served.predict(b), batches, sync),
            f"onnxruntime {served.variant}, one call per batch of {batch}":
                timed(lambda b: _ort_whole(served, b), batches, sync),
            f"onnxruntime fp32 ({fp32.providers[0]}), one call per batch of {batch}":
                timed(lambda b: _ort_whole(fp32, b), batches, sync),
            f"PyTorch fp16 ({dev}), one call per batch of {batch}": timed(lambda b, n=batch: torch_probs(tm16, b, n),
                                                                          batches, sync),
            "PyTorch fp16, sub-batches of 16": timed(lambda b: torch_probs(tm16, b, 16), batches, sync),
            f"PyTorch fp32 ({dev}), one call per batch of {batch}": timed(lambda b, n=batch: torch_probs(tm32, b, n),
                                                                          batches, sync),
        }
        base = rows[f"PyTorch fp16 ({dev}), one call per batch of {batch}"]
        for what, tps in rows.items():
            report["rows"].append({"batch": batch, "what": what, "tweets_per_s": round(tps, 1),
                                   "x_torch_fp16": round(tps / base, 3)})
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=2))
    print("| micro-batch | measurement | tweets/s | × PyTorch fp16 (same batch) |\n| ---: | --- | ---: | ---: |")
    for r in report["rows"]:
        print(f"| {r['batch']} | {r['what']} | {r['tweets_per_s']:,.1f} | {r['x_torch_fp16']:.2f} |")
    return 0


def _ort_whole(model: Any, batch: list[str]) -> None:
    saved = model.max_batch
    model.max_batch = len(batch)
    try:
        model.predict(batch)
    finally:
        model.max_batch = saved


if __name__ == "__main__":
    raise SystemExit(main())
