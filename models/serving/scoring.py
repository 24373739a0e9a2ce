"""What the scorer runs per tweet: sentiment always, emotion (anger, joy, optimism, sadness) with it.

The communications team asks two questions of a bad buzz: how negative is it, and what kind of negative
(angry customers call for a different answer than sad ones). The released emotion model is a *branch* of
the sentiment model (models/training/branch.py): both heads come out of one run of the encoder, so every tweet gets
its emotions for the price of the branch's layers (measured in ``docs/benchmarks.md``). A standalone emotion
model is still accepted; it is then run, by default, only on the tweets the sentiment model calls negative
(where alerts look), which keeps a second encoder's cost proportional to the negative share.
``scope="all"`` keeps emotions for every tweet, ``"negative"`` only for negative ones, ``"off"`` none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from badbuzz.models.serving.inference import OnnxSentimentModel, Prediction

EmotionScope = Literal["negative", "all", "off"]


class SentimentAndEmotion:
    """A sentiment model and an emotion model behind the one ``predict`` the pipeline calls."""

    def __init__(self, sentiment: OnnxSentimentModel, emotion: OnnxSentimentModel | None,
                 scope: EmotionScope = "negative") -> None:
        self.sentiment = sentiment
        self.emotion = emotion if scope != "off" else None
        has_emotion = self.emotion is not None or (sentiment.branch is not None and scope != "off")
        self.scope: EmotionScope = scope if has_emotion else "off"

    @property
    def version(self) -> str:
        return self.sentiment.version

    @property
    def emotion_version(self) -> str | None:
        if self.scope == "off":
            return None
        if self.sentiment.branch is not None:
            return self.sentiment.branch_version
        return self.emotion.version if self.emotion is not None else None

    @property
    def emotion_labels(self) -> list[str]:
        if self.sentiment.branch is not None:
            return self.sentiment.branch.labels
        return self.emotion.labels if self.emotion is not None else []

    @property
    def labels(self) -> list[str]:
        return self.sentiment.labels

    @property
    def weights(self) -> tuple[float, ...] | None:
        return self.sentiment.weights

    @property
    def providers(self) -> list[str]:
        return self.sentiment.providers

    def warm_up(self) -> None:
        self.sentiment.warm_up()
        if self.emotion is not None:
            self.emotion.warm_up()

    def predict(self, texts: Sequence[str]) -> Prediction:
        pred = self.sentiment.predict(texts)
        if pred.emotions is not None:  # a branch: both heads came out of the one run
            if self.scope == "off":
                return replace(pred, emotions=None, emotion_model=None)
            if self.scope == "negative":
                keep = [label == self.sentiment.negative_label for label in pred.decided_labels()]
                return replace(pred, emotions=[e if k else None for e, k in zip(pred.emotions, keep, strict=True)])
            return pred
        if self.emotion is None or not texts:
            return pred
        negative = self.sentiment.negative_label
        chosen = [i for i, label in enumerate(pred.decided_labels()) if self.scope == "all" or label == negative]
        emotions: list[dict[str, float] | None] = [None] * len(texts)
        if chosen:
            probs = self.emotion.predict([texts[i] for i in chosen]).probabilities
            names = self.emotion.labels
            for i, row in zip(chosen, probs, strict=True):
                emotions[i] = {name: float(p) for name, p in zip(names, row, strict=True)}
        return replace(pred, emotions=emotions, emotion_model=self.emotion.version)
