"""How well the scorer's language detector names the languages of tweets (models/serving/language.py).

    python bench/language_id.py --data ../shared/data

On UMSAB's validation tweets (eight languages, their language known from the set) it reports the share
detected as their own language; on Sentiment140's English tweets, the share called English, undetermined,
or another language at each confidence threshold (an English tweet called foreign and surely so would be
left unscored when no model serves that language), and the detector's speed.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from badbuzz.models.serving.language import LanguageDetector
from badbuzz.models.training import datasets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--english", type=int, default=6000, help="Sentiment140 tweets to check")
    args = p.parse_args()
    detector = LanguageDetector(min_confidence=0.0)
    umsab = list(datasets.umsab(args.data / "umsab", "val"))
    started = time.perf_counter()
    guesses = [detector.guess(e.text) for e in umsab]
    speed = len(umsab) / (time.perf_counter() - started)
    print("| language (UMSAB val) | tweets | detected as itself (any confidence) | at >= 0.5 |")
    print("| --- | ---: | ---: | ---: |")
    for lang in datasets.UMSAB_LANGUAGES:
        code = datasets.UMSAB_CODES[lang]
        mine = [g for e, g in zip(umsab, guesses, strict=True) if e.source == f"umsab/{lang}"]
        hit = sum(g[0] == code for g in mine) / len(mine)
        sure = sum(g[0] == code and g[1] >= 0.5 for g in mine) / len(mine)
        print(f"| {lang} | {len(mine)} | {hit:.1%} | {sure:.1%} |")
    sample = sorted(args.data.glob("sentiment140/sentiment140_random_sample*"))[0]
    english = [e.text for e in datasets.sentiment140(sample)][: args.english]
    res = [detector.guess(t) for t in english]
    print(f"\n{len(english)} Sentiment140 tweets (English):\n")
    print("| threshold | English | undetermined | another language | most frequent others |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for th in (0.5, 0.8):
        cnt = Counter((lang or "und") if conf >= th else "und" for lang, conf in res)
        n = len(res)
        others = ", ".join(f"{k} {v}" for k, v in cnt.most_common() if k not in {"en", "und"})[:80]
        print(f"| {th} | {cnt['en'] / n:.1%} | {cnt['und'] / n:.1%} | {1 - (cnt['en'] + cnt['und']) / n:.1%} | "
              f"{others} |")
    print(f"\nspeed: {speed:,.0f} tweets/s on one core")


if __name__ == "__main__":
    main()
