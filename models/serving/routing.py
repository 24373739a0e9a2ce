"""Send each tweet to the model validated on its language; store the rest unscored, with the reason.

A deployment serves one or more sentiment models (the released English ``sentiment3`` with its emotion
branch, and ``sentiment3-multilingual``). Each model directory says which languages it was validated on
(``languages`` in its manifest; none listed: any language, as for a model a user trained on their own
data). A tweet goes to the first model, in the deployment's order, that lists its language; a tweet whose
language is detected goes by the detector's best guess when a model serves that guess (a short French
complaint is French even at 40 % confidence: the English model reads French at chance, the multilingual one
reads English nearly as well as it), to the fallback model when the language is undetermined (too few
letters, or an unsure guess at a language nobody serves; the fallback is the deployment's main model); a
tweet surely (80 %) in a language no model lists is not scored at all
(``unscored``, with the reason), never scored as if it were English. The language stored with a tweet is
the feed's tag, or the detected one when the detector was sure of it (``und`` otherwise).

Emotion probabilities come only from a model whose emotion head was validated on the tweet's language:
a multilingual sentiment model without an emotion head gives ``None``, not English "joy".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from badbuzz.models.serving.language import LanguageDetector, resolve_languages

UNSCORED = "unscored"


class PredictionLike(Protocol):
    @property
    def labels(self) -> list[str]: ...

    @property
    def probabilities(self) -> npt.NDArray[np.float32]: ...

    @property
    def emotions(self) -> list[dict[str, float] | None] | None: ...

    @property
    def emotion_model(self) -> str | None: ...

    def decided_labels(self) -> list[str]: ...


class Member(Protocol):
    """What the router (and the scoring pipeline) needs of a model: ``SentimentAndEmotion``, a router, or any
    scorer with the same face."""

    @property
    def version(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...

    def predict(self, texts: Sequence[str]) -> PredictionLike: ...


@dataclass(frozen=True)
class Route:
    model: Member
    languages: frozenset[str] | None  # None: any language
    emotion_languages: frozenset[str] | None = None  # None: wherever the model's emotions come from

    def serves(self, lang: str | None) -> bool:
        return self.languages is None or (lang is not None and lang in self.languages)


@dataclass(frozen=True)
class RoutedPrediction:
    """One micro-batch's scores: per tweet its language, its model's version, and either its label and
    probabilities or the reason it was not scored."""

    labels: list[str]
    probabilities: npt.NDArray[np.float32]  # (n, n_labels); NaN rows for unscored tweets
    decided: list[str]  # decided label per tweet, UNSCORED for the rest
    versions: list[str | None]
    languages: list[str | None]
    unscored: list[str | None]  # reason, None where scored
    emotions: list[dict[str, float] | None]
    emotion_models: list[str | None]

    def decided_labels(self) -> list[str]:
        return self.decided

    @property
    def emotion_model(self) -> str | None:
        return next((m for m in self.emotion_models if m), None)


class LanguageRouter:
    """The scorer's model: ``route(texts, tags)`` scores each tweet with the model of its language."""

    def __init__(self, routes: Sequence[Route], *, detector: LanguageDetector | None = None,
                 unscored_confidence: float = 0.8) -> None:
        if not routes:
            raise ValueError("a router needs at least one model")
        labels = routes[0].model.labels
        for r in routes[1:]:
            if r.model.labels != labels:
                raise ValueError(f"models with different labels cannot share a stream: {labels} vs {r.model.labels}")
        self.routes = list(routes)
        self.detector = detector
        # a detected language is stored when the detector is this sure of it; a tweet is left unscored as
        # foreign only when it is surer still (on English tweets of Sentiment140, 1.0 % are guessed to be in
        # another language at 0.5 and 0.3 % at 0.8: an English-only brand must not lose them)
        self.confident = detector.min_confidence if detector is not None else 0.5
        self.unscored_confidence = max(self.confident, unscored_confidence)
        # undetermined language: the model that serves any language, else the deployment's main model (the
        # first: what served every tweet before languages, and the one most of its stream goes to)
        self.fallback = next((i for i, r in enumerate(self.routes) if r.languages is None), 0)

    @property
    def primary(self) -> Member:
        return self.routes[0].model

    @property
    def version(self) -> str:
        return self.primary.version

    @property
    def labels(self) -> list[str]:
        return self.primary.labels

    # the main model's face, for the callers that report on it (scorer start-up, demo, bench)
    @property
    def sentiment(self) -> Any:
        return getattr(self.primary, "sentiment", self.primary)

    @property
    def providers(self) -> list[str]:
        return list(getattr(self.primary, "providers", []))

    @property
    def emotion_version(self) -> str | None:
        return getattr(self.primary, "emotion_version", None)

    @property
    def emotion_labels(self) -> list[str]:
        return list(getattr(self.primary, "emotion_labels", []))

    @property
    def scope(self) -> str:
        return str(getattr(self.primary, "scope", "off"))

    @property
    def weights(self) -> tuple[float, ...] | None:
        return getattr(self.primary, "weights", None)

    def warm_up(self) -> None:
        for r in self.routes:
            warm = getattr(r.model, "warm_up", None)
            if warm is not None:
                warm()

    @property
    def needs_languages(self) -> bool:
        """Whether a tweet's language changes anything (one model for every language: it does not)."""
        return len(self.routes) > 1 or self.routes[0].languages is not None

    def supported_languages(self) -> set[str] | None:
        if any(r.languages is None for r in self.routes):
            return None
        return {lang for r in self.routes for lang in (r.languages or ())}

    def choose(self, lang: str | None, confidence: float = 1.0) -> int | None:
        """The route of a tweet in ``lang`` (given with ``confidence``); ``None``: no model serves it."""
        if lang is None:
            return self.fallback
        served = next((i for i, r in enumerate(self.routes) if r.serves(lang)), None)
        if served is None and confidence < self.unscored_confidence:
            return self.fallback  # an unsure guess at an unserved language: undetermined, not foreign
        return served

    def predict(self, texts: Sequence[str]) -> RoutedPrediction:
        return self.route(texts, [None] * len(texts))

    def route(self, texts: Sequence[str], tags: Sequence[str | None]) -> RoutedPrediction:
        n = len(texts)
        guesses = resolve_languages(texts, tags, self.detector if self.needs_languages else None)
        chosen = [self.choose(lang, confidence) for lang, confidence in guesses]
        langs = [lang if confidence >= self.confident else None for lang, confidence in guesses]
        probs = np.full((n, len(self.labels)), np.nan, dtype=np.float32)
        decided = [UNSCORED] * n
        versions: list[str | None] = [None] * n
        unscored: list[str | None] = [None] * n
        emotions: list[dict[str, float] | None] = [None] * n
        emotion_models: list[str | None] = [None] * n
        for i, c in enumerate(chosen):
            if c is None:
                unscored[i] = f"no model is validated on language {langs[i]!r}"
        for route_index, route in enumerate(self.routes):
            rows = [i for i, c in enumerate(chosen) if c == route_index]
            if not rows:
                continue
            pred = route.model.predict([texts[i] for i in rows])
            labels = pred.decided_labels()
            row_emotions = pred.emotions or [None] * len(rows)
            for j, i in enumerate(rows):
                probs[i] = pred.probabilities[j]
                decided[i] = labels[j]
                versions[i] = route.model.version
                emotion_ok = route.emotion_languages is None or (langs[i] in route.emotion_languages)
                if emotion_ok and row_emotions[j] is not None:
                    emotions[i] = row_emotions[j]
                    emotion_models[i] = pred.emotion_model
        return RoutedPrediction(list(self.labels), probs, decided, versions, langs, unscored, emotions, emotion_models)


def single(model: Member) -> LanguageRouter:
    """A router over one model serving every language: the scorer as it was before languages."""
    return LanguageRouter([Route(model, None)])


def as_router(model: Member | LanguageRouter) -> LanguageRouter:
    return model if isinstance(model, LanguageRouter) else single(model)
