"""What the in-process inference comparisons share (``bench/length_cut.py``, ``bench/lanes.py``, the API load's
ceiling): their command line, and the rate of a model called as a server calls it."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from badbuzz.models.data import find_sentiment140
from badbuzz.stream.sources.replay import shuffled_rows


def comparison_args(doc: str) -> tuple[argparse.Namespace, list[str]]:
    """``--data --variant --tweets --passes`` parsed, and the Sentiment140 tweets to score (the same seed every run,
    so two comparisons and two days score the same texts)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--variant", help="int8 (served on CPUs) or fp32")
    p.add_argument("--tweets", type=int, default=3072)
    p.add_argument("--passes", type=int, default=3)
    args = p.parse_args()
    return args, [r.text for r in shuffled_rows(find_sentiment140(args.data), seed=11, limit=args.tweets)]


def scoring_rate(predict: Callable[[Sequence[str]], Any], texts: list[str], call: int, callers: int = 1) -> float:
    """Texts/s of ``predict`` on ``texts`` in calls of ``call`` texts, ``callers`` of them at once (the API's batch
    workers; one: the scorer, a call at a time)."""
    calls = [texts[i : i + call] for i in range(0, len(texts), call)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max(1, callers)) as pool:
        list(pool.map(predict, calls))
    return len(texts) / (time.perf_counter() - started)
