"""``badbuzz bench --languages``: what languages cost the scorer.

Three questions, same run, same machine, micro-batches as the scorer takes them:
- on an English-only stream, how much throughput routing costs (language detection on untagged tweets, the
  router) against one model for every tweet, as the scorer ran before languages (target: at most 10 %);
- on a bilingual stream (English and French, untagged), tweets/s per language: each language's tweets
  through its own model, detection included;
- end to end, Kafka → scorer → PostgreSQL, on the bilingual stream (when the servers are configured).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from badbuzz.models.data import find_sentiment140
from badbuzz.models.serving.routing import LanguageRouter
from badbuzz.models.training import datasets
from badbuzz.services.scorer import load_model
from badbuzz.services.settings import Settings
from badbuzz.services.tools.bench import machine
from badbuzz.services.tools.bench_pipeline import pipeline_run
from badbuzz.stream.sources.replay import ReplayTweet, retime, shuffled_rows

FRENCH_SHARE = 0.4


@dataclass
class LanguageBench:
    tweets: int
    english_one_model_tps: float
    english_routed_tps: float
    english_tagged_tps: float
    french_routed_tps: float
    bilingual_routed_tps: float
    bilingual_end_to_end_tps: float | None
    models: list[str]

    @property
    def english_ratio(self) -> float:
        return self.english_routed_tps / self.english_one_model_tps


def _pass(model: LanguageRouter, size: int, texts: list[str], tag: str | None) -> float:
    """One pass in micro-batches of ``size`` through the scorer's model, tweets tagged ``tag`` (as X and
    Bluesky tag them) or untagged so that their language is detected; tweets/s."""
    started = time.perf_counter()
    for i in range(0, len(texts), size):
        chunk = texts[i : i + size]
        model.route(chunk, [tag] * len(chunk))
    return len(texts) / (time.perf_counter() - started)


def _interleaved(legs: dict[str, tuple[LanguageRouter, list[str], str | None]], size: int,
                 passes: int = 3) -> dict[str, float]:
    """Best pass of each leg, the legs taking turns (A B C A B C ...): a slow spell of the machine then costs
    every leg alike instead of deciding a ratio."""
    best = dict.fromkeys(legs, 0.0)
    for _ in range(passes):
        for name, (model, texts, tag) in legs.items():
            best[name] = max(best[name], _pass(model, size, texts, tag))
    return best


def bilingual_replay(s140: Path, folder: Path, tweets: int, seed: int = 11) -> list[ReplayTweet]:
    """Sentiment140 in English and UMSAB's French tweets (60/40), shuffled, untagged, timed as a stream."""
    english = list(retime(shuffled_rows(s140, seed=seed, limit=round(tweets * (1 - FRENCH_SHARE))),
                          start=datetime.now(UTC), per_minute=600, seed=seed, id_prefix="bench-"))
    french_rows = [e for split in ("train", "val") for e in datasets.umsab(folder, split)]
    rng = random.Random(seed)
    start = english[0].created_at if english else datetime.now(UTC)
    french = [ReplayTweet(f"bench-fr{i}-{e.id}", e.text, start + timedelta(seconds=i * 0.1), "fr-user", e.label)
              for i, e in enumerate(rng.choices(french_rows, k=round(tweets * FRENCH_SHARE)))]
    mixed = english + french
    rng.shuffle(mixed)
    return mixed


def run_language_bench(settings: Settings, *, tweets: int, output: Path) -> LanguageBench:
    if settings.data is None:
        raise SystemExit("pass --data or set BADBUZZ_DATA (the folder holding Sentiment140 and umsab/)")
    data = find_sentiment140(settings.data)
    plain = settings.model_copy(update={"emotions": "off"})
    english = [r.text for r in shuffled_rows(data, seed=11, limit=tweets)]
    folder = datasets.umsab_folder(settings.data, "french")
    if folder is None:
        raise SystemExit(f"no umsab/french beside {settings.data}: the bilingual stream needs UMSAB's French tweets")
    mixed = bilingual_replay(data, folder, tweets)
    french = [t.text for t in mixed if t.user == "fr-user"]
    single, router = load_model(plain.model_copy(update={"languages": "off"})), load_model(plain)
    tps = _interleaved({"one": (single, english, None), "routed": (router, english, None),
                        "tagged": (router, english, "en"), "french": (router, french, None),
                        "bilingual": (router, [t.text for t in mixed], None)}, settings.batch_max_size)
    del single, router
    end_to_end = None
    if settings.kafka_bootstrap is not None and settings.database_url is not None:
        end_to_end = pipeline_run(plain, mixed).tps
    versions = [r.model.version for r in load_model(plain, warm_up=False).routes]
    one_model, routed, tagged = tps["one"], tps["routed"], tps["tagged"]
    result = LanguageBench(len(english), one_model, routed, tagged, tps["french"], tps["bilingual"], end_to_end,
                           versions)
    _write(result, output)
    print(json.dumps({"english_one_model_tps": round(one_model, 1), "english_routed_tps": round(routed, 1),
                      "english_ratio": round(result.english_ratio, 3), "english_tagged_tps": round(tagged, 1),
                      "french_routed_tps": round(result.french_routed_tps, 1),
                      "bilingual_routed_tps": round(result.bilingual_routed_tps, 1),
                      "bilingual_end_to_end_tps": round(end_to_end, 1) if end_to_end else None,
                      "report": str(output)}, indent=2))
    return result


def _write(r: LanguageBench, output: Path) -> None:
    e2e = f"{r.bilingual_end_to_end_tps:.1f}" if r.bilingual_end_to_end_tps else "not run (no servers configured)"
    lines = [
        "# Benchmark: languages", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, `badbuzz bench --languages --tweets "
        f"{r.tweets}`; models {', '.join(f'`{m}`' for m in r.models)}, sentiment only, micro-batches as the "
        "scorer takes them, tweets untagged (every language detected) unless said, best of three passes taken "
        "in turns.", "",
        "| stream | path | tweets/s | ratio |", "| --- | --- | ---: | --- |",
        f"| English only | one model for every tweet (the scorer before languages) | {r.english_one_model_tps:.1f} "
        "| 1.00 |",
        f"| English only | detected and routed (as served) | {r.english_routed_tps:.1f} | "
        f"**{r.english_ratio:.3f} ×** (target ≥ 0.90) |",
        f"| English only | tagged `en` by the feed (X, Bluesky), routed | {r.english_tagged_tps:.1f} | "
        f"{r.english_tagged_tps / r.english_one_model_tps:.3f} × |",
        f"| French only | detected, routed to the multilingual model | {r.french_routed_tps:.1f} | |",
        f"| bilingual, {FRENCH_SHARE:.0%} French | detected and routed, inference only | "
        f"{r.bilingual_routed_tps:.1f} | |",
        f"| bilingual, {FRENCH_SHARE:.0%} French | end to end, Kafka → scorer → PostgreSQL | {e2e} | |",
        "",
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines))
