"""Scored tweets for API tests: a topic with a calm share and a bad-buzz spike, as the scorer stores them."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from badbuzz.stream.contracts import RawTweet, ScoredTweet


def scored_minutes(start: datetime, minutes: Iterable[int], share: float, rng: random.Random, *,
                   per_minute: int = 40, prefix: str = "m", scored_at: datetime | None = None) -> list[ScoredTweet]:
    """``per_minute`` tweets a minute on topics all + baggage, a ``share`` of them negative ("lost my luggage")."""
    out = []
    for m in minutes:
        for i in range(per_minute):
            neg = rng.random() < share
            tweet = RawTweet(f"{prefix}{m}-{i}", "lost my luggage again" if neg else "nice crew today",
                             start + timedelta(minutes=m, seconds=i), topics=("all", "baggage"))
            out.append(ScoredTweet(tweet, "negative" if neg else "positive",
                                   {"negative": 0.9, "positive": 0.1} if neg else {"negative": 0.1, "positive": 0.9},
                                   "seed:fp32", scored_at or start))
    return out
