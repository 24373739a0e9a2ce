"""Loaders against the real files in the shared data folder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from badbuzz.models.training.datasets import (
    EMOTION4,
    SENTIMENT3,
    combine,
    semeval,
    sentiment140,
    split,
    tweet_sentiment_extraction,
    tweeteval,
)


def test_tweeteval_sentiment_and_emotion(data_dir: Path) -> None:
    val = list(tweeteval(data_dir / "tweeteval" / "sentiment", "val"))
    assert len(val) == 2000 and set(Counter(e.label for e in val)) == set(SENTIMENT3)
    emo = list(tweeteval(data_dir / "tweeteval" / "emotion", "train"))
    assert len(emo) == 3257 and set(e.label for e in emo) == set(EMOTION4)


def test_semeval_drops_tweeteval_validation_rows(data_dir: Path) -> None:
    path = data_dir / "semeval2017_task4A" / "semeval2013_2016_task4A_english.tsv.xz"
    kept = list(semeval(path))
    everything = list(semeval(path, drop_tweeteval_val=False))
    assert len(everything) == 49_469 and len(everything) - len(kept) == 1_971
    assert Counter(e.label for e in everything) == {"negative": 7_723, "neutral": 22_143, "positive": 19_603}
    assert not any("\\u2019" in e.text for e in everything)  # literal escapes of the 2013 files decoded


def test_tse_and_combination_deduplicate_by_text(data_dir: Path) -> None:
    tse = list(tweet_sentiment_extraction(
        data_dir / "tweet_sentiment_extraction" / "tweet_sentiment_extraction_train_plus_test_31014.csv.xz"))
    assert len(tse) >= 31_000 and not any("`" in e.text for e in tse)
    s140 = list(sentiment140(data_dir / "sentiment140" / "sentiment140_random_sample_24934.csv.xz"))
    both = combine(tse, s140, labels=SENTIMENT3)
    assert len(both) < len(tse) + len(s140) - 300  # about 440 texts appear in both sets
    parts = split(both, dev_percent=10)
    for label in SENTIMENT3:  # exactly stratified
        share = sum(e.label == label for e in parts["dev"]) / sum(e.label == label for e in both)
        assert abs(share - 0.10) < 0.001
    assert {e.text for e in parts["dev"]}.isdisjoint({e.text for e in parts["train"]})
    again = split(reversed(both), dev_percent=10)
    assert {e.id for e in again["dev"]} == {e.id for e in parts["dev"]}  # order does not change the split
