"""Why is this topic on fire? The terms most over-represented in the window's negative tweets.

Weighted log-odds with an informative Dirichlet prior (Monroe, Colaresi & Quinn, 2008): each term's
log-odds in the window's negative tweets minus its log-odds in the baseline's tweets, divided by its
standard error. Unlike raw frequency it does not surface "the" and "flight"; unlike a plain ratio it does
not surface a word seen once.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from badbuzz.stream.text import fold

_TOKEN = re.compile(r"[#@]?[a-z][a-z0-9'_-]{2,}")
STOPWORDS = frozenset(
    [
        "the", "and", "for", "you", "that", "this", "with", "have", "not", "but", "are", "was", "just", "all",
        "get", "got", "its", "it's", "can", "what", "out", "now", "from", "they", "your", "one", "about", "too",
        "when", "will", "there", "been", "has", "had", "were", "would", "could", "should", "than", "then",
        "them", "their", "our", "who", "how", "why", "did", "does", "don't", "can't", "i'm", "i've", "it'll",
        "you're", "we're", "http", "https", "www", "com", "user", "amp", "quot", "some", "more", "very",
        "really", "much", "still", "also", "only", "even", "back", "into", "over", "after", "before", "again",
        "here", "where", "which", "while", "being", "because", "just", "going", "want", "know", "think",
        "today", "day",
        # French (folded: accents stripped), since the brand's customers write in both
        "les", "des", "une", "est", "sont", "pas", "pour", "que", "qui", "dans", "sur", "avec", "par", "mais",
        "plus", "tout", "tous", "cette", "ces", "ont", "aux", "elle", "ils", "nous", "vous", "leur", "leurs",
        "son", "ses", "sans", "comme", "fait", "etre", "avoir", "encore", "deja", "tres", "bien", "aussi",
        "quand", "alors", "donc", "car", "moi", "toi", "lui", "c'est", "j'ai", "n'est", "qu'il", "d'un", "d'une",
        "l'on", "ete", "etait", "peu", "meme", "faire", "dit", "rien", "non", "oui", "ceux", "celle", "cela", "ca"
    ]
)


def terms(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(fold(text)) if t not in STOPWORDS and not t.startswith("@")]


def top_terms(window_texts: Iterable[str], baseline_texts: Iterable[str], k: int = 8,
              min_z: float = 1.96) -> list[tuple[str, float]]:
    """(term, z-score) of the ``k`` terms most over-represented in ``window_texts``, z ≥ ``min_z``."""
    win = Counter(t for text in window_texts for t in set(terms(text)))
    base = Counter(t for text in baseline_texts for t in set(terms(text)))
    if not win:
        return []
    prior = win + base
    a0 = sum(prior.values())
    n_w, n_b = sum(win.values()), sum(base.values())
    scored = []
    for term, y_w in win.items():
        if y_w < 2:
            continue
        a = prior[term] * 1.0
        y_b = base.get(term, 0)
        delta = (math.log((y_w + a) / (n_w + a0 - y_w - a))
                 - math.log((y_b + a) / (n_b + a0 - y_b - a)))
        z = delta / math.sqrt(1.0 / (y_w + a) + 1.0 / (y_b + a))
        if z >= min_z:
            scored.append((term, round(z, 2)))
    scored.sort(key=lambda x: (-x[1], x[0]))
    return scored[:k]
