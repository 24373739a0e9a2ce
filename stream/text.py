"""Text normalisation shared by topic matching (which tweets are about a topic) and alert explanations
(which words a bad buzz is about): both must treat ``Évènement``, ``évènement`` and ``evenement`` as one word,
so both use this one function instead of each folding its own way."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower-case and strip accents: ``Évènement`` → ``evenement``, so rules match however people type."""
    if text.isascii():  # most tweets: nothing to decompose and no accent to strip (a third of the cost)
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
