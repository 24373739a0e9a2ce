"""The alert tiers on the calibrated field profile (issue 28): ours vs the previous detector vs the naive rule,
per volume tier and brand baseline negativity, with the served model's label noise; cold starts; what the
model's errors cost. Cells run in parallel (one per core).

    python bench/field_tiers.py --tiers 20 200 2000 20000 --base-share 0.25 0.5 0.75 --seeds 1 2 3 --weeks 3
    python bench/field_tiers.py --detectors ours --cold-start 6 --prior --seeds 1 2 3 4 5 6 7 8 9 10
    python bench/field_tiers.py --detectors ours --targets-on true [--true-labels]   # what the model costs
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.simulation.simulation import FieldProfile, LabelNoise
from badbuzz.stream.simulation.tiers import Cell, TierReport, measure_cell

TRUE_LABELS = LabelNoise(tpr=1.0, fpr=0.0)


def row(cell: Cell, name: str, r: TierReport) -> str:
    s = r.summary()
    fmt = {k: ("–" if v is None else f"{v:.0%}" if "recall" in k else f"{v:.1f}" if isinstance(v, float)
               else str(v)) for k, v in s.items()}
    covered = f", {r.covered} already open" if r.covered else ""
    recall = f"{fmt['recall_target']} ({r.targets_detected}/{r.targets}{covered})"
    cells = [f"{cell.tier:,.0f}/h", f"{cell.base_share:.0%}", name, recall, fmt["recall_all"], fmt["ttd_median_min"],
             fmt["false_alerts_per_week"], fmt["double_alerts"]]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiers", type=float, nargs="+", default=[20, 200, 2000, 20000])
    parser.add_argument("--base-share", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--weeks", type=float, default=3.0)
    parser.add_argument("--detectors", nargs="+", default=["ours", "previous", "naive"])
    parser.add_argument("--default-profile", action="store_true", help="the simulator as it was, for comparison")
    parser.add_argument("--true-labels", action="store_true", help="perfect labels instead of the served model's")
    parser.add_argument("--targets-on", choices=["seen", "true"], default="seen",
                        help="decide targets on the labels the detector sees (default) or on true labels (the same "
                             "targets with and without --true-labels: what the model's errors cost)")
    parser.add_argument("--cold-start", type=float, metavar="HOURS",
                        help="only this much history, then three scored days")
    parser.add_argument("--prior", action="store_true", help="with --cold-start: borrow a mature topic's prior")
    parser.add_argument("--tpr", type=float, default=LabelNoise().tpr)
    parser.add_argument("--fpr", type=float, default=LabelNoise().fpr)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    served = LabelNoise(args.tpr, args.fpr)
    cells = [Cell(tier, share, tuple(args.seeds), args.weeks, TRUE_LABELS if args.true_labels else served,
                  DetectorConfig(), None if args.default_profile else FieldProfile(),
                  TRUE_LABELS if args.targets_on == "true" else None, tuple(args.detectors), args.cold_start,
                  args.prior)
             for tier in args.tiers for share in args.base_share]
    print("| tier | base share | detector | target recall | all recall | median TTD (min) | false alerts / week "
          "| double |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        for cell, reports in zip(cells, pool.map(measure_cell, cells), strict=True):
            for name, r in reports.items():
                print(row(cell, name, r), flush=True)
    print(f"<!-- {time.perf_counter() - started:.0f} s -->")


if __name__ == "__main__":
    main()
