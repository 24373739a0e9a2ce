"""ONNX calls side by side in lanes against one call at a time over ORT's intra-op threads: inference only.

    python bench/lanes.py --data ../shared/data [--variant fp32] [--passes 3]

``models/serving/inference.py`` runs a CPU model's sub-batches in lanes, one single-threaded ONNX Runtime call
per core, where it used to run them one at a time with ORT's intra-op threads spread over the cores. This
measures both on the same tweets, interleaved pass by pass so a busy machine slows both alike, at the calls the
scorer makes under a backlog (one caller, micro-batches of 256) and those the API makes under 16 one-text
clients (two batch workers at once, 8 texts each).
"""

from __future__ import annotations

from badbuzz.models.serving.inference import OnnxSentimentModel, cpu_lanes
from badbuzz.models.serving.released import released_model_dir
from badbuzz.services.tools.bench_inference import comparison_args, scoring_rate


def main() -> None:
    args, texts = comparison_args(__doc__ or "")
    directory = released_model_dir("sentiment3")
    lanes = OnnxSentimentModel(directory, device="cpu", variant=args.variant, max_batch=16)
    one = OnnxSentimentModel(directory, device="cpu", variant=args.variant, max_batch=16, lanes=1)
    for model in (lanes, one):
        model.predict(texts[:256])  # warm up
    print(f"model {lanes.version}, {len(texts)} tweets, {cpu_lanes(0, 0)} lanes (one per usable core)")
    print("| pass | calls | lanes (tweets/s) | one call at a time (tweets/s) | ratio |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for n in range(1, args.passes + 1):
        for call, callers, what in ((256, 1, "256 texts, one caller (the scorer)"),
                                    (8, 2, "8 texts, two callers (the API under 16 clients)")):
            a = scoring_rate(lanes.predict, texts, call, callers)
            b = scoring_rate(one.predict, texts, call, callers)
            print(f"| {n} | {what} | {a:,.0f} | {b:,.0f} | {a / b:.2f} × |", flush=True)


if __name__ == "__main__":
    main()
