"""The quality guard: the models that ship in models/serving/released, scored on held-out sets from ../shared/data.

A re-release, a preprocessing change, a tokenizer or ONNX Runtime upgrade that costs quality fails here.
The floors are the product's targets (the default sentiment model), the emotion model's published figure minus
0.03, and for the opt-in fast sentiment head: within a point of the full model. Each is checked on what a CPU
serves by default (int8 derived at load where `badbuzz quantize` qualified it) and on the fp32 graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from badbuzz.export.release import MAX_FILE_BYTES
from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.models.serving.model_dir import load_manifest
from badbuzz.models.serving.released import TASKS, released_model_dir
from badbuzz.models.training.datasets import UMSAB_CODES, UMSAB_LANGUAGES
from badbuzz.models.training.evaluation import evaluate_scorer, load_test, model_dir_scorer
from badbuzz.services.scorer import load_main_model, load_model
from badbuzz.services.settings import Settings

S140_NEG_POS_ACCURACY = 0.90
TWEETEVAL_MACRO_RECALL = 0.72
EMOTION_PUBLISHED_MACRO_F1 = 0.7190  # docs/model-card.md, TweetEval emotion validation (the emotion branch)
EMOTION_MARGIN = 0.03
STUDENT_MARGIN = 0.01
LANGUAGE_MARGIN = 0.02  # per language of UMSAB validation (324 tweets: two points is about six tweets)
REPO_MODEL_BYTES = 120 * 1024 * 1024
RELEASE_BYTES = {"sentiment3-multilingual": 60 * 1024 * 1024}
EMOTIONS = ["anger", "joy", "optimism", "sadness"]


def test_released_models_are_the_defaults_and_fit_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BADBUZZ_MODEL_DIR", "BADBUZZ_EMOTION_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(device="cpu")
    assert settings.resolved_model_dir == released_model_dir("sentiment3")  # the fast head is opt-in
    assert settings.resolved_emotion_model_dir == released_model_dir("emotion4")
    total = 0
    for task in TASKS:
        manifest = load_manifest(released_model_dir(task))  # every checksum verified
        assert manifest.release["task"] == task
        assert manifest.weight_storage == ("int8" if task == "sentiment3-multilingual" else "fp16")
        sizes = [(released_model_dir(task) / name).stat().st_size for name in manifest.files]
        assert max(sizes) < MAX_FILE_BYTES and sum(sizes) <= RELEASE_BYTES.get(task, REPO_MODEL_BYTES)
        total += sum(sizes)
    assert total <= REPO_MODEL_BYTES


def test_the_served_scorer_gives_every_tweet_both_heads_from_one_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BADBUZZ_MODEL_DIR", "BADBUZZ_EMOTION_MODEL_DIR", "BADBUZZ_EMOTIONS"):
        monkeypatch.delenv(name, raising=False)
    model = load_main_model(Settings(device="cpu"), warm_up=False)
    assert model.sentiment.branch is not None and model.emotion is None and model.scope == "all"
    assert model.version.endswith(":int8") and model.emotion_version.endswith(":int8")  # qualified, see below
    texts = ["I am furious, @AirParadis cancelled my flight and the staff were rude and useless",
             "Great crew on AP123, thank you!"]
    pred = model.predict(texts)
    assert pred.emotions is not None and all(e is not None and sorted(e) == EMOTIONS for e in pred.emotions)
    assert pred.emotion_model == model.emotion_version and model.emotion_version.startswith("emotion4-")
    # one session, two heads: the sentiment head is exactly the released sentiment model's
    alone = OnnxSentimentModel(released_model_dir("sentiment3"), device="cpu").predict(texts)
    np.testing.assert_allclose(pred.probabilities, alone.probabilities, atol=1e-6)
    angry, happy = pred.emotions
    assert angry is not None and happy is not None and angry["anger"] > 0.5 and happy["joy"] > 0.5


@pytest.mark.parametrize(("task", "variant"), [("sentiment3", None), ("sentiment3", "fp32"), ("sentiment3-fast", None)])
def test_sentiment_model_meets_its_targets(data_dir: Path, task: str, variant: str | None) -> None:
    scorer, labels, model = model_dir_scorer(released_model_dir(task), variant)
    s140 = evaluate_scorer(scorer, labels, load_test("sentiment140-test", data_dir / "sentiment140" /
                                                     "testdata.manual.2009.06.14.csv"), weights=model.weights)
    tweeteval = evaluate_scorer(scorer, labels, load_test("tweeteval-sentiment", data_dir / "tweeteval" / "sentiment"),
                                weights=model.weights)
    accuracy, recall = s140["negative_vs_positive"].accuracy, tweeteval["full"].macro_recall
    print(f"[measure] released {task} {model.variant}: Sentiment140 test neg-vs-pos accuracy {accuracy:.4f} "
          f"(n={s140['negative_vs_positive'].n}), TweetEval val macro recall {recall:.4f} (n={tweeteval['full'].n})")
    assert recall >= TWEETEVAL_MACRO_RECALL
    if task == "sentiment3":  # the default
        assert accuracy >= S140_NEG_POS_ACCURACY
    else:  # the opt-in fast head: within a point of the full model (0.8997 on Sentiment140 when released)
        full = load_manifest(released_model_dir("sentiment3")).metrics["tests"]
        assert accuracy >= full["sentiment140-test"]["negative_vs_positive"]["accuracy"] - STUDENT_MARGIN
        assert recall >= full["tweeteval-sentiment"]["full"]["macro_recall"] - STUDENT_MARGIN


@pytest.mark.parametrize("variant", [None, "fp32"])
def test_emotion_model_keeps_its_published_quality(data_dir: Path, variant: str | None) -> None:
    model_dir = released_model_dir("emotion4")
    scorer, labels, model = model_dir_scorer(model_dir, variant)
    report = evaluate_scorer(scorer, labels, load_test("tweeteval-emotion", data_dir / "tweeteval" / "emotion"),
                             weights=model.weights)["full"]
    recorded = load_manifest(model_dir).metrics["tests"]["tweeteval-emotion"]["full"]["macro_f1"]
    print(f"[measure] released emotion4 {model.variant}: TweetEval emotion val macro-F1 {report.macro_f1:.4f}, "
          f"accuracy {report.accuracy:.4f} (n={report.n}); recorded at release {recorded:.4f}")
    assert recorded == pytest.approx(EMOTION_PUBLISHED_MACRO_F1, abs=5e-4)  # the card and the files agree
    assert report.macro_f1 >= EMOTION_PUBLISHED_MACRO_F1 - EMOTION_MARGIN


def test_the_served_scorer_routes_each_language_to_its_validated_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BADBUZZ_MODEL_DIR", "BADBUZZ_EMOTION_MODEL_DIR", "BADBUZZ_MULTILINGUAL_MODEL_DIR",
                 "BADBUZZ_LANGUAGES", "BADBUZZ_EMOTIONS"):
        monkeypatch.delenv(name, raising=False)
    router = load_model(Settings(device="cpu"), warm_up=False)
    english, multi = (load_manifest(released_model_dir(t)) for t in ("sentiment3", "sentiment3-multilingual"))
    assert english.languages == ["en"] and "fr" in multi.languages and "en" not in multi.languages
    texts = ["Vol annulé pour la troisième fois, Air Paradis c'est une honte, plus jamais",
             "Bagage perdu, aucune réponse depuis une semaine, je suis furieux",
             "I am furious, @AirParadis cancelled my flight and the staff were rude and useless",
             "Ik ben erg boos over deze vlucht, nooit meer met jullie"]
    pred = router.route(texts, [None] * len(texts))
    assert pred.languages == ["fr", "fr", "en", "nl"]
    # the French complaints: negative, by the multilingual model, and no English "joy" for them
    assert pred.decided[:3] == ["negative"] * 3
    assert pred.versions[0] is not None and pred.versions[0].startswith("sentiment3-multilingual-")
    assert pred.emotions[0] is None and pred.emotions[1] is None
    assert pred.versions[2] is not None and pred.versions[2].startswith("sentiment3-2") and pred.emotions[2] is not None
    assert pred.decided[3] == "unscored" and pred.unscored[3] is not None  # Dutch: no model validated on it


@pytest.mark.parametrize("variant", [None, "fp32"])
def test_multilingual_model_keeps_its_published_quality_per_language(data_dir: Path, variant: str | None) -> None:
    model_dir = released_model_dir("sentiment3-multilingual")
    scorer, labels, model = model_dir_scorer(model_dir, variant)
    recorded = load_manifest(model_dir).metrics["tests"]
    for lang in UMSAB_LANGUAGES:
        report = evaluate_scorer(scorer, labels, load_test(f"umsab-{lang}", data_dir / "umsab" / lang),
                                 weights=model.weights, bootstrap=0)["full"]
        published = recorded[f"umsab-{lang}"]["full"]
        neg_recall = report.per_class["negative"]["recall"]
        print(f"[measure] released sentiment3-multilingual {model.variant} {UMSAB_CODES[lang]}: UMSAB val macro-F1 "
              f"{report.macro_f1:.4f} (recorded {published['macro_f1']:.4f}), negative recall {neg_recall:.4f}")
        assert report.macro_f1 >= published["macro_f1"] - LANGUAGE_MARGIN
        assert neg_recall >= published["per_class"]["negative"]["recall"] - LANGUAGE_MARGIN
