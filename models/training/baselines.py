"""The models the product is compared with: the off-the-shelf analyser and a simple bespoke model.

- VADER (lexicon + rules, no training), standing in for a paid sentiment API; its compound score becomes
  pseudo-probabilities with VADER's own ±0.05 neutral thresholds.
- TF-IDF (word 1–2-grams + character 2–5-grams) + logistic regression, trained on the same split as the
  transformer, with the same preprocessing.
Both expose ``fit`` / ``predict_proba(texts) -> (n, labels)`` / ``labels`` / ``size_bytes``.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from badbuzz.models.serving.preprocessing import preprocess_tweet_v1
from badbuzz.models.training.metrics import FloatArray


class Vader:
    name = "VADER (off-the-shelf lexicon)"

    def __init__(self, labels: Sequence[str]) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.labels = list(labels)
        self._analyzer = SentimentIntensityAnalyzer()

    def fit(self, texts: Sequence[str], y: Sequence[int]) -> Vader:
        return self

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        compound = np.array([self._analyzer.polarity_scores(t)["compound"] for t in texts])
        p_neg = (1 - compound) / 2
        out = np.zeros((len(texts), len(self.labels)))
        neg, pos = self.labels.index("negative"), self.labels.index("positive")
        if "neutral" in self.labels:
            neu = self.labels.index("neutral")
            neutral = np.abs(compound) < 0.05
            out[:, neu] = np.where(neutral, 0.5, 0.0)
            out[:, neg] = np.where(neutral, p_neg / 2, p_neg)
            out[:, pos] = np.where(neutral, (1 - p_neg) / 2, 1 - p_neg)
        else:
            out[:, neg], out[:, pos] = p_neg, 1 - p_neg
        return out

    @property
    def size_bytes(self) -> int:
        return len(pickle.dumps(self._analyzer.lexicon))


class TfidfLogReg:
    name = "TF-IDF + logistic regression"

    def __init__(self, labels: Sequence[str], C: float = 4.0) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, Pipeline

        self.labels = list(labels)
        features = FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True,
                                      max_features=300_000)),
        ])
        self.pipeline: Any = Pipeline([("features", features), ("clf", LogisticRegression(C=C, max_iter=2000))])

    def fit(self, texts: Sequence[str], y: Sequence[int]) -> TfidfLogReg:
        self.pipeline.fit([preprocess_tweet_v1(t) for t in texts], list(y))
        return self

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        probs = self.pipeline.predict_proba([preprocess_tweet_v1(t) for t in texts])
        out = np.zeros((len(texts), len(self.labels)))
        out[:, self.pipeline.classes_] = probs
        return out

    @property
    def size_bytes(self) -> int:
        return len(pickle.dumps(self.pipeline))
