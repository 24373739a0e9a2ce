"""The command line the in-process inference comparisons under ``bench/`` share (length cuts, lanes)."""

from __future__ import annotations

import argparse
from pathlib import Path

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
