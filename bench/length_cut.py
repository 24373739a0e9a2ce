"""Length buckets cut by cost against cut every ``max_batch`` rows: inference only, same tweets, interleaved.

    python bench/length_cut.py --data ../shared/data [--variant fp32] [--passes 3]

``models/serving/inference.py`` cuts a call's sorted lengths where ``call cost × calls + Σ rows × longest row``
is least. This measures what that buys against the fixed cut, at the call sizes the API forms under 16
one-text clients (16) and the scorer's micro-batch under a backlog (256), with the cuts interleaved pass by
pass so a busy machine slows both alike. Call cost 0 is the fixed cut.
"""

from __future__ import annotations

from badbuzz.models.serving.inference import CPU_CALL_COST_TOKENS, OnnxSentimentModel
from badbuzz.models.serving.released import released_model_dir
from badbuzz.services.tools.bench_inference import comparison_args, scoring_rate


def main() -> None:
    args, texts = comparison_args(__doc__ or "")
    model = OnnxSentimentModel(released_model_dir("sentiment3"), device="cpu", variant=args.variant, max_batch=16)
    model.predict(texts[:256])  # warm up
    print(f"model {model.version}, {len(texts)} tweets, sub-batches of at most {model.max_batch}")
    print("| pass | calls of | cost cut (tweets/s) | cut every 16 (tweets/s) | ratio |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in range(1, args.passes + 1):
        for call in (16, 256):
            model.call_cost = CPU_CALL_COST_TOKENS
            cost_cut = scoring_rate(model.predict, texts, call)
            model.call_cost = 0
            fixed = scoring_rate(model.predict, texts, call)
            print(f"| {n} | {call} | {cost_cut:,.0f} | {fixed:,.0f} | {cost_cut / fixed:.2f} × |", flush=True)


if __name__ == "__main__":
    main()
