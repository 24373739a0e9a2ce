"""The alert tiers re-measured on the calibrated field profile (issue 28): ours vs the previous detector vs the
naive rule, per volume tier and brand baseline negativity, with the served model's label noise.

    python bench/field_tiers.py --tiers 20 200 2000 --base-share 0.25 0.5 0.75 --seeds 1 2 3 --weeks 3
"""

from __future__ import annotations

import argparse
import time

from badbuzz.stream.alerting.detector import DetectorConfig
from badbuzz.stream.alerting.simulation import FieldProfile, LabelNoise
from badbuzz.stream.alerting.tiers import evaluate_tier, run_naive, run_ours, run_previous


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiers", type=float, nargs="+", default=[20, 200, 2000])
    parser.add_argument("--base-share", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--weeks", type=float, default=3.0)
    parser.add_argument("--default-profile", action="store_true", help="the simulator as it was, for comparison")
    args = parser.parse_args()
    runners = {"ours": run_ours(DetectorConfig()), "previous": run_previous(), "naive": run_naive()}
    field = None if args.default_profile else FieldProfile()
    print("| tier | base share | detector | target recall | all recall | median TTD (min) | false alerts / week "
          "| double |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for tier in args.tiers:
        for share in args.base_share:
            started = time.perf_counter()
            reports = evaluate_tier(tier, runners, seeds=args.seeds, weeks=args.weeks, noise=LabelNoise(),
                                    base_share=share, field=field)
            for name, r in reports.items():
                s = r.summary()
                fmt = {k: ("–" if v is None else f"{v:.0%}" if "recall" in k else f"{v:.1f}" if isinstance(v, float)
                           else str(v)) for k, v in s.items()}
                recall = f"{fmt['recall_target']} ({r.targets_detected}/{r.targets})"
                cells = [f"{tier:g}/h", f"{share:.0%}", name, recall, fmt["recall_all"], fmt["ttd_median_min"],
                         fmt["false_alerts_per_week"], fmt["double_alerts"]]
                print("| " + " | ".join(cells) + " |", flush=True)
            print(f"<!-- {tier:g}/h {share:.0%}: {time.perf_counter() - started:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
