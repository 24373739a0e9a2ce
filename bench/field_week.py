"""Issue 28's real-week protocol on simulated airline weeks (``stream/simulation/field_week.py``): how many of the
truth rule's episodes are chance windows, and what our detector and the rule itself score there, beside the
figures measured on the real week.

    python bench/field_week.py --seeds 1 2 3 4 5 6 7 8 9 10 11 12
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.simulation.field_week import DETECTORS, WeekScore, airline_week

# issue 28's measurements on the held-out real week: (episodes found, episodes, alerts outside, median TTD)
REAL_WEEK = {"human": (10, 17, 5, 183.0), "served": (8, 17, 2, 253.0)}


def pct(a: int, b: int) -> str:
    return f"{a / b:.0%} ({a}/{b})" if b else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 13)))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    started = time.perf_counter()
    print("| week | labels | detector | rule episodes / week (6 airlines) | of them chance windows | found "
          "| found: events | found: chance | alerts outside / week | median TTD (min) |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for labels, (found, episodes, outside, ttd) in REAL_WEEK.items():
        print(f"| real (issue 28) | {labels} | ours | {episodes} | ? | {pct(found, episodes)} | ? | ? | {outside} "
              f"| {ttd:.0f} |")
    for with_episodes in (False, True):
        totals = {(lab, det): WeekScore() for lab in ("human", "served") for det in DETECTORS}
        with ProcessPoolExecutor(args.jobs) as pool:
            run = partial(airline_week, config=DetectorConfig(), with_episodes=with_episodes)
            for week in pool.map(run, args.seeds):
                for key, score in week.items():
                    totals[key].merge(score)
        kind = "simulated, 6 episodes a topic-week" if with_episodes else "simulated, ordinary (surges only)"
        for (labels, det), s in totals.items():
            median = f"{s.median_ttd:.0f}" if s.median_ttd is not None else "–"
            print(f"| {kind} | {labels} | {det} | {s.episodes / s.weeks:.1f} | {pct(s.chance_episodes, s.episodes)} "
                  f"| {pct(s.found, s.episodes)} | {pct(s.event_found, s.event_episodes)} "
                  f"| {pct(s.chance_found, s.chance_episodes)} | {s.outside / s.weeks:.1f} | {median} |", flush=True)
    print(f"<!-- {time.perf_counter() - started:.0f} s, seeds {' '.join(map(str, args.seeds))} -->")


if __name__ == "__main__":
    main()
