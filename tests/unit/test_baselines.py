from __future__ import annotations

import numpy as np

from badbuzz.models.training.baselines import TfidfLogReg, Vader

LABELS = ["negative", "neutral", "positive"]


def test_vader_probabilities_follow_its_compound_score() -> None:
    v = Vader(LABELS)
    p = v.predict_proba(["I hate this awful delay", "The flight leaves at 9", "Loved the crew, great service!"])
    assert p.argmax(1).tolist() == [0, 1, 2]
    np.testing.assert_allclose(p.sum(1), 1.0)
    b = Vader(["negative", "positive"]).predict_proba(["terrible", "wonderful"])
    assert b.argmax(1).tolist() == [0, 1]


def test_tfidf_logreg_learns_a_toy_task() -> None:
    texts = ["awful delay again", "lost my bag awful", "worst service ever", "so angry at this airline"] * 10
    texts += ["flight at noon", "gate changed to B2", "boarding now", "the plane is an A320"] * 10
    texts += ["great crew thanks", "loved the flight", "best service", "happy landing thanks"] * 10
    y = [0] * 40 + [1] * 40 + [2] * 40
    m = TfidfLogReg(LABELS).fit(texts, y)
    p = m.predict_proba(["awful service", "boarding at gate B2", "loved the crew"])
    assert p.argmax(1).tolist() == [0, 1, 2] and m.size_bytes > 1000


def test_glove_bilstm_learns_a_toy_task() -> None:
    from badbuzz.models.training.glove_lstm import GloveBiLSTM, tokens

    assert tokens("@united LOST my bag!! http://x.co") == ["@", "user", "lost", "my", "bag", "!", "!", "http"]
    texts = ["awful delay again", "lost my bag awful", "worst service ever", "so angry at this airline"] * 30
    texts += ["great crew thanks", "loved the flight", "best service", "happy landing thanks"] * 30
    y = [0] * 120 + [1] * 120
    m = GloveBiLSTM(["negative", "positive"], epochs=5, batch_size=16).fit(texts, y)
    p = m.predict_proba(["awful angry delay", "loved the crew thanks"])
    assert p.argmax(1).tolist() == [0, 1] and m.size_bytes > 10_000
    assert "awful" in m.vocab and "lost" in m.vocab
