"""Training options on the tiny DistilBERT: combined sources, 4-way emotion labels, early stopping, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from badbuzz.models.training.train import TASKS, TrainConfig, config_from_checkpoint, load_examples, train


@pytest.fixture(scope="module")
def tiny_base(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint  # a DistilBERT checkpoint: its 2-label head is replaced for other tasks


def emotion(tmp: Path, base: Path, data_dir: Path, **kw: object) -> TrainConfig:
    return TrainConfig(data=None, output_dir=tmp, base_model=str(base), labels=list(TASKS["emotion4"]),
                       sources=[("tweeteval-emotion", data_dir / "tweeteval" / "emotion")], batch_size=16,
                       max_length=None, max_dev_rows=100, **kw)  # type: ignore[arg-type]


def test_sources_are_combined_and_split_by_text(data_dir: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(data=None, output_dir=tmp_path, base_model="x", labels=list(TASKS["sentiment3"]),
                      sources=[("tweeteval-sentiment", data_dir / "tweeteval" / "sentiment"),
                               ("semeval", data_dir / "semeval2017_task4A" / "semeval2013_2016_task4A_english.tsv.xz")],
                      max_dev_rows=100_000)
    with pytest.raises(FileNotFoundError):
        load_examples(cfg)  # TweetEval sentiment has no train split here: a clear error, not silence
    cfg.sources = cfg.sources[1:]
    train_set, dev_set = load_examples(cfg)
    assert 0.08 < len(dev_set) / (len(train_set) + len(dev_set)) < 0.12
    assert {e.label for e in train_set} == {0, 1, 2}


def test_early_stopping_keeps_the_best_weights(tiny_base: Path, data_dir: Path, tmp_path: Path) -> None:
    out = train(emotion(tmp_path, tiny_base, data_dir, max_steps=100, eval_every=2, patience=1, learning_rate=0.0))
    meta = json.loads((out / "training.json").read_text())
    assert len(meta["history"]) == 4  # eval at 2 sets the best; no better at 4 → stop
    assert meta["best_step"] == 2 and meta["labels"] == TASKS["emotion4"]
    assert 16 <= meta["max_length"] <= 128  # from the data's 95th percentile


def test_interrupted_run_resumes_where_it_stopped(tiny_base: Path, data_dir: Path, tmp_path: Path) -> None:
    first = train(emotion(tmp_path, tiny_base, data_dir, max_steps=10, eval_every=5, checkpoint_every=5,
                          learning_rate=1e-3))
    before = json.loads((first / "training.json").read_text())["history"]
    assert (first / "resume" / "state.pt").is_file()
    again = train(emotion(tmp_path, tiny_base, data_dir, max_steps=16, eval_every=5, checkpoint_every=5,
                          learning_rate=1e-3, resume=True))
    after = json.loads((again / "training.json").read_text())["history"]
    assert [p["step"] for p in after] == list(range(1, 17))
    assert after[:10] == before
    assert config_from_checkpoint(again).sources[0][0] == "tweeteval-emotion"


def test_length_grouped_batches_cover_the_epoch_with_little_padding() -> None:
    import random

    from badbuzz.models.training.train import length_grouped_order

    rng = random.Random(3)
    lengths = [rng.randint(5, 140) for _ in range(1000)]
    order = length_grouped_order(lengths, 32, random.Random(1), window=8)
    assert len(order) == 1000 - 1000 % 32 and len(set(order)) == len(order)  # full batches, no repeats
    batches = [order[i : i + 32] for i in range(0, len(order), 32)]

    def padding(bs: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)

    shuffled = list(range(1000))
    random.Random(1).shuffle(shuffled)
    plain = [shuffled[i : i + 32] for i in range(0, len(order), 32)]
    assert padding(batches) < 0.25 * padding(plain)
    firsts = [lengths[b[0]] for b in batches]
    assert firsts != sorted(firsts)  # batches are shuffled, not served shortest first
    assert length_grouped_order(lengths, 32, random.Random(1), window=8) == order  # seeded


def test_dev_rows_zero_cap_keeps_every_dev_row(data_dir: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(data=None, output_dir=tmp_path, base_model="x", labels=list(TASKS["emotion4"]),
                      sources=[("tweeteval-emotion", data_dir / "tweeteval" / "emotion")], dev_percent=20,
                      max_dev_rows=0)
    train_set, dev_set = load_examples(cfg)
    assert 0.18 < len(dev_set) / (len(train_set) + len(dev_set)) < 0.22


def test_preprocessing_version_is_applied_recorded_and_kept_on_resume(tiny_base: Path, data_dir: Path,
                                                                        tmp_path: Path) -> None:
    v1_train, _ = load_examples(emotion(tmp_path, tiny_base, data_dir))
    v2_train, _ = load_examples(emotion(tmp_path, tiny_base, data_dir, preprocessing="tweet-v2"))
    assert [e.label for e in v1_train] == [e.label for e in v2_train]  # same split, only the text differs
    assert any("😂" in e.text for e in v1_train)
    assert not any("😂" in e.text for e in v2_train) and any("tears of joy" in e.text for e in v2_train)

    out = train(emotion(tmp_path, tiny_base, data_dir, max_steps=4, eval_every=2, checkpoint_every=2,
                        preprocessing="tweet-v2"))
    assert json.loads((out / "training.json").read_text())["preprocessing"] == "tweet-v2"
    assert config_from_checkpoint(out).preprocessing == "tweet-v2"
    with pytest.raises(ValueError, match="tweet-v2"):
        train(emotion(tmp_path, tiny_base, data_dir, max_steps=6, eval_every=2, checkpoint_every=2, resume=True))


def test_a_large_helper_set_is_capped_and_left_out_of_dev(data_dir: Path, tmp_path: Path) -> None:
    """A multilingual run beside English SemEval: SemEval is sampled down to the cap (the same rows whatever
    the order) and early stopping sees only the UMSAB rows."""
    semeval_file = data_dir / "semeval2017_task4A" / "semeval2013_2016_task4A_english.tsv.xz"
    cfg = TrainConfig(data=None, output_dir=tmp_path, base_model="x", labels=list(TASKS["sentiment3"]),
                      sources=[("umsab", data_dir / "umsab"), ("semeval", semeval_file)], dev_percent=5,
                      max_dev_rows=0, max_source_rows=3000, dev_sources=["umsab"])
    train_set, dev_set = load_examples(cfg)
    from_semeval = [e for e in train_set if e.source == "semeval"]
    assert 2700 < len(from_semeval) <= 3000  # the cap, less the rows that went to dev
    assert dev_set and all(e.source.startswith("umsab/") for e in dev_set)
    uncapped = load_examples(TrainConfig(**{**cfg.__dict__, "max_source_rows": 0, "dev_sources": []}))
    assert sum(e.source == "semeval" for e in uncapped[0]) > 30_000
    assert any(e.source == "semeval" for e in uncapped[1])
