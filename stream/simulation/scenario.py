"""Replay scenarios with ground truth: shaped volume, topics, and injected bad-buzz episodes.

A scenario turns a pool of real labelled tweets into a stream: Poisson arrivals whose rate follows a daily
curve, each tweet assigned to a topic with that topic's usual negative share, and episodes during which a
topic gets extra volume with a multiplied negative share — built from real negative tweets of the data.
The episodes are the ground truth that ``eval-alerts`` scores alerts against.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TopicSpec:
    name: str
    per_minute: float
    negative_share: float


@dataclass(frozen=True)
class Episode:
    """Extra volume with a multiplied negative share on one topic; ``theme`` makes it one story.

    A real bad buzz is about something: with a theme, the episode's negative tweets are real negative
    tweets that mention it (the explanation should then surface it); without, any negative tweets.
    """

    topic: str
    start_minute: int
    minutes: int
    multiplier: float
    per_minute: float
    theme: str | None = None
    lang: str | None = None  # a wave in one language: its negative tweets are that language's

    def start(self, origin: datetime) -> datetime:
        return origin + timedelta(minutes=self.start_minute)

    def end(self, origin: datetime) -> datetime:
        return origin + timedelta(minutes=self.start_minute + self.minutes)


@dataclass(frozen=True)
class Scenario:
    origin: datetime
    minutes: int
    topics: tuple[TopicSpec, ...]
    episodes: tuple[Episode, ...] = ()
    daily_amplitude: float = 0.5
    seed: int = 1
    # share of the everyday stream per language (e.g. {"en": 0.6, "fr": 0.4}); None: as the pool comes
    languages: dict[str, float] | None = None

    def truth(self) -> dict[str, Any]:
        return {
            "origin": self.origin.isoformat(), "minutes": self.minutes, "seed": self.seed,
            "topics": [asdict(t) for t in self.topics], "languages": self.languages,
            "episodes": [asdict(e) | {"start": e.start(self.origin).isoformat(), "end": e.end(self.origin).isoformat()}
                         for e in self.episodes],
        }

    def write_truth(self, path: Path) -> None:
        path.write_text(json.dumps(self.truth(), indent=2))


@dataclass(frozen=True)
class PoolTweet:
    id: str
    text: str
    negative: bool
    lang: str | None = None  # known language of the source set (the stream itself does not carry it)


@dataclass
class StreamTweet:
    id: str
    text: str
    created_at: datetime
    topics: tuple[str, ...]
    negative: bool
    episode: int | None = field(default=None)
    lang: str | None = None


def volume_factor(minute: int, amplitude: float) -> float:
    """Daily curve: quiet at night, busiest late afternoon (trough at 04:00, peak at 16:00)."""
    return 1.0 + amplitude * math.sin(2 * math.pi * (minute / 1440.0 - 10 / 24))


def generate(scenario: Scenario, pool: Sequence[PoolTweet], *, about: Callable[[str], Sequence[str]] | None = None,
             brand: str | None = None) -> Iterator[StreamTweet]:
    """The scenario's tweets in time order. Pool tweets are reused with fresh ids when the stream is longer.

    With ``about`` (the topics a text is about: the deployment's TopicMatcher.assign), each topic's tweets
    are drawn only from pool tweets about that topic, so a "baggage" episode's examples talk about bags, not
    whatever a random draw gave. ``brand`` (e.g. "@AirParadis") is put in front of every text: a connector
    that follows the brand fetches only tweets that name it. A language with too few tweets about a topic
    (fewer than MIN_TOPIC_POOL negatives or positives) does not write about it; its share goes to the others.
    """
    rng = random.Random(scenario.seed)
    if brand:
        pool = [replace(t, text=f"{brand} {t.text}") for t in pool]
    negatives = [t for t in pool if t.negative]
    positives = [t for t in pool if not t.negative]
    if not negatives or not positives:
        raise ValueError("the pool needs both negative and positive tweets")
    pools = {spec.name: _topic_pool(pool, spec.name, about) for spec in scenario.topics}
    themed = {ep.theme: _mentioning(negatives, ep.theme) for ep in scenario.episodes if ep.theme}
    by_lang = {name: _by_language(p, scenario.languages, topic=name if about else None) for name, p in pools.items()}
    serial = 0
    for minute in range(scenario.minutes):
        batch: list[StreamTweet] = []
        base = scenario.origin + timedelta(minutes=minute)
        for spec in scenario.topics:
            lam = spec.per_minute * volume_factor(minute, scenario.daily_amplitude)
            langs = by_lang[spec.name]
            if langs is None:
                negs, poss = _split(pools[spec.name])
                batch.extend(_draw(rng, base, spec.name, lam, spec.negative_share, negs, poss, None))
                continue
            for share_of_stream, (negs, poss) in langs:
                batch.extend(_draw(rng, base, spec.name, lam * share_of_stream, spec.negative_share, negs, poss, None))
        for idx, ep in enumerate(scenario.episodes):
            if ep.start_minute <= minute < ep.start_minute + ep.minutes:
                spec = next(t for t in scenario.topics if t.name == ep.topic)
                share = min(1.0, spec.negative_share * ep.multiplier)
                extra = max(0.0, ep.per_minute - spec.per_minute * volume_factor(minute, scenario.daily_amplitude))
                batch = [b for b in batch if ep.topic not in b.topics]
                lam = spec.per_minute * volume_factor(minute, scenario.daily_amplitude) + extra
                topic_negs, topic_poss = _split(pools[ep.topic])
                angry = themed.get(ep.theme, topic_negs) if ep.theme and not about else topic_negs
                if ep.lang is not None:
                    angry = [t for t in angry if t.lang == ep.lang] or angry
                batch.extend(_draw(rng, base, ep.topic, lam, share, angry, topic_poss, idx))
        batch.sort(key=lambda t: t.created_at)
        for tw in batch:
            serial += 1
            tw.id = f"s{scenario.seed}-{serial}-{tw.id}"
            yield tw


MIN_TOPIC_POOL = 10  # distinct tweets of each label; a longer stream reuses them with fresh ids


def _split(pool: Sequence[PoolTweet]) -> tuple[list[PoolTweet], list[PoolTweet]]:
    return [t for t in pool if t.negative], [t for t in pool if not t.negative]


def _topic_pool(pool: Sequence[PoolTweet], topic: str, about: Callable[[str], Sequence[str]] | None
                ) -> list[PoolTweet]:
    if about is None:
        return list(pool)
    found = [t for t in pool if topic in about(t.text)]
    negs, poss = _split(found)
    if len(negs) < MIN_TOPIC_POOL or len(poss) < MIN_TOPIC_POOL:
        raise ValueError(f"the pool has too few tweets about {topic!r} ({len(negs)} negative, {len(poss)} "
                         f"positive; {MIN_TOPIC_POOL} of each needed): widen the topic's rules or the data")
    return found


def _by_language(pool: Sequence[PoolTweet], shares: dict[str, float] | None, topic: str | None = None
                 ) -> list[tuple[float, tuple[list[PoolTweet], list[PoolTweet]]]] | None:
    """(share of the stream, (negatives, positives)) per language of ``shares``; None for a pool used as it is.
    For a ``topic``'s pool, a language with too few tweets about it is left out and the others share its part."""
    if not shares:
        return None
    out = []
    for lang, share in shares.items():
        negs = [t for t in pool if t.lang == lang and t.negative]
        poss = [t for t in pool if t.lang == lang and not t.negative]
        if topic is not None and (len(negs) < MIN_TOPIC_POOL or len(poss) < MIN_TOPIC_POOL):
            continue
        if not negs or not poss:
            raise ValueError(f"the pool has no negative or no positive tweets in {lang!r}")
        out.append((share, (negs, poss)))
    if not out:
        raise ValueError(f"no language has enough tweets about {topic!r}")
    total = sum(share for share, _ in out)
    return [(share / total, parts) for share, parts in out]


def _mentioning(tweets: Sequence[PoolTweet], theme: str) -> Sequence[PoolTweet]:
    word = re.compile(rf"\b{re.escape(theme)}\b", re.IGNORECASE)
    found = [t for t in tweets if word.search(t.text)]
    return found if len(found) >= 20 else tweets


def _draw(rng: random.Random, base: datetime, topic: str, lam: float, share: float,
          negatives: Sequence[PoolTweet], positives: Sequence[PoolTweet], episode: int | None) -> list[StreamTweet]:
    out = []
    for _ in range(_poisson(rng, lam)):
        negative = rng.random() < share
        src = rng.choice(negatives if negative else positives)
        ts = base + timedelta(seconds=rng.random() * 60)
        out.append(StreamTweet(src.id, src.text, ts, (topic,), negative, episode, src.lang))
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


THEMES = ("flight", "work", "sick", "rain", "phone", "tired", "miss")


def standard_scenario(origin: datetime, *, seed: int, days: float = 1.0, episodes_per_day: int = 8) -> Scenario:
    """The evaluation scenario: three topics of different volume and tone, episodes of several sizes.

    Episodes are spread over the day (never overlapping on a topic) with sizes drawn from a grid of
    multipliers (1.5×–3×), durations (5–30 min) and volumes (15–80 tweets/min on the topic).
    """
    rng = random.Random(seed)
    topics = (
        TopicSpec("air-paradis", per_minute=30, negative_share=0.20),
        TopicSpec("delays", per_minute=15, negative_share=0.35),
        TopicSpec("baggage", per_minute=8, negative_share=0.25),
    )
    minutes = int(days * 1440)
    episodes: list[Episode] = []
    n_eps = max(1, round(episodes_per_day * days))
    slot = minutes // n_eps
    for i in range(n_eps):
        topic = rng.choice(topics)
        dur = rng.choice([5, 10, 15, 20, 30])
        start = i * slot + rng.randint(180, max(181, slot - dur - 60)) if slot > 300 else i * slot + 120
        episodes.append(Episode(topic.name, start, dur, rng.choice([1.5, 2.0, 2.5, 3.0]),
                                rng.choice([15.0, 30.0, 50.0, 80.0]), theme=rng.choice(THEMES)))
    return Scenario(origin, minutes, topics, tuple(episodes), seed=seed)
