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

from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.models.serving.language import LanguageDetector
from badbuzz.models.serving.released import released_model_dir
from badbuzz.models.training.metrics import evaluate

LABELS = ("negative", "neutral", "positive")  # UMSAB's 0, 1, 2


def english_rows(folder: Path, split: str, detector: LanguageDetector) -> tuple[list[str], list[int], int]:
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = [int(x) for x in (folder / f"{split}_labels.txt").read_text().split()]
    if len(texts) != len(labels):
        raise SystemExit(f"{folder}: {len(texts)} texts, {len(labels)} labels")
    kept = [(t, y) for t, y in zip(texts, labels, strict=True) if _sure_english(detector.guess(t))]
    return [t for t, _ in kept], [y for _, y in kept], len(texts)


def _sure_english(guess: tuple[str | None, float]) -> bool:
    return guess[0] == "en" and guess[1] >= 0.8


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--min-tweets", type=int, default=30, help="skip a split with fewer English tweets")
    args = p.parse_args()
    model = OnnxSentimentModel(released_model_dir("sentiment3"), device="cpu", variant="fp32")
    detector = LanguageDetector()
    print("| split | English tweets | macro-F1 of the English model on them | 95 % interval | agreement |")
    print("| --- | ---: | ---: | --- | ---: |")
    for folder in sorted(p for p in (args.data / "umsab").iterdir() if p.is_dir()):
        for split in ("train", "val"):
            texts, gold, total = english_rows(folder, split, detector)
            if len(texts) < args.min_tweets:
                continue
            pred = model.predict(texts)
            probs = pred.probabilities[:, [pred.labels.index(name) for name in LABELS]].astype("float64")
            report = evaluate(gold, probs, LABELS, weights=_ordered(model.weights, pred.labels))
            lo, hi = report.intervals["macro_f1"]
            print(f"| {folder.name} {split} | {len(texts):,} of {total:,} | {report.macro_f1:.3f} | "
                  f"{lo:.3f}–{hi:.3f} | {report.accuracy:.3f} |")


def _ordered(weights: tuple[float, ...] | None, labels: list[str]) -> list[float] | None:
    """The model's decision weights in UMSAB's label order."""
    return None if weights is None else [weights[labels.index(name)] for name in LABELS]


if __name__ == "__main__":
    main()
