"""What the scorer runs per tweet: sentiment always, emotion (anger, joy, optimism, sadness) where it helps.

The communications team asks two questions of a bad buzz: how negative is it, and what kind of negative
(angry customers call for a different answer than sad ones). Emotion is therefore run, by default, only on
the tweets the sentiment model calls negative: that is where alerts look, and it keeps the cost of the
second model proportional to the negative share instead of doubling every batch (measured in
``docs/benchmarks.md``). ``scope="all"`` runs it on every tweet; ``"off"`` not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from badbuzz.models.inference import OnnxSentimentModel, Prediction

EmotionScope = Literal["negative", "all", "off"]


class SentimentAndEmotion:
    """A sentiment model and an emotion model behind the one ``predict`` the pipeline calls."""

    def __init__(self, sentiment: OnnxSentimentModel, emotion: OnnxSentimentModel | None,
                 scope: EmotionScope = "negative") -> None:
        self.sentiment = sentiment
        self.emotion = emotion if scope != "off" else None
        self.scope = scope if emotion is not None else "off"

    @property
    def version(self) -> str:
        return self.sentiment.version

    @property
    def emotion_version(self) -> str | None:
        return self.emotion.version if self.emotion is not None else None

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
