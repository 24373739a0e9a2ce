"""Do UMSAB's labels belong to their texts? The English tweets of each language's split, read by the English model.

    python bench/umsab_labels.py --data ../shared/data

Every UMSAB label file cycles 0, 1, 2, 0, 1, 2: the texts were interleaved by class. If a split's texts were
interleaved wrongly, its labels no longer belong to them, and no model can score above chance on it. Many of
UMSAB's Hindi tweets are written in English (SAIL-2015 is code-mixed), which gives a test that needs no
Hindi reader: the English tweets of each split (lid.176 sure at >= 0.8) are scored by the released English
model, whose own agreement with UMSAB's English split is the yardstick. A split whose English tweets agree
with their labels at chance has labels that do not belong to its texts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from badbuzz.models.serving.language import LanguageDetector
from badbuzz.models.serving.released import released_model_dir
from badbuzz.models.training.datasets import Example, umsab
from badbuzz.models.training.evaluation import evaluate_scorer, model_dir_scorer

SURE = 0.8  # lid.176's confidence for "surely English"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--min-tweets", type=int, default=30, help="skip a split with fewer English tweets")
    args = p.parse_args()
    scorer, labels, model = model_dir_scorer(released_model_dir("sentiment3"), "fp32")
    detector = LanguageDetector()
    print("| split | English tweets | macro-F1 of the English model on them | 95 % interval | agreement |")
    print("| --- | ---: | ---: | --- | ---: |")
    for folder in sorted(p for p in (args.data / "umsab").iterdir() if p.is_dir()):
        for split in ("train", "val"):
            rows = list(umsab(folder, split))
            english = [e for e in rows if _sure_english(e, detector)]
            if len(english) < args.min_tweets:
                continue
            report = evaluate_scorer(scorer, labels, english, weights=model.weights)["full"]
            lo, hi = report.intervals["macro_f1"]
            print(f"| {folder.name} {split} | {len(english):,} of {len(rows):,} | {report.macro_f1:.3f} | "
                  f"{lo:.3f}–{hi:.3f} | {report.accuracy:.3f} |")


def _sure_english(example: Example, detector: LanguageDetector) -> bool:
    lang, confidence = detector.guess(example.text)
    return lang == "en" and confidence >= SURE


if __name__ == "__main__":
    main()
