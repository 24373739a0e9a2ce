"""Tweet normalisation shared by training and serving.

The version string is written into every model directory; the scorer refuses a model whose version it does
not know, so serving can never silently drift from what the model was trained on. Never change a
registered function: add a new version instead.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable

_MENTION = re.compile(r"(?<![\w@])@\w{1,30}")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def preprocess_tweet_v1(text: str) -> str:
    """Mentions → ``@user``, links → ``http``, HTML entities decoded, whitespace collapsed.

    Emoji, emoticons, punctuation and case are kept: they carry sentiment (and uncased tokenizers
    lower-case by themselves).
    """
    text = html.unescape(text)
    text = _URL.sub("http", text)
    text = _MENTION.sub("@user", text)
    return _SPACE.sub(" ", text).strip()


_EMOJI_JOINERS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}  # zero-width joiner, variation selectors, keycap


def _symbol_words(ch: str) -> str | None:
    """The Unicode name of an emoji or other pictographic symbol, as lower-case words; ``None`` for other text.

    Flag letters and skin-tone modifiers carry no sentiment and would only spell out noise, so they map to ``""``.
    """
    if ch in _EMOJI_JOINERS or 0x1F3FB <= ord(ch) <= 0x1F3FF or 0x1F1E6 <= ord(ch) <= 0x1F1FF:
        return ""
    if unicodedata.category(ch) != "So":
        return None
    return unicodedata.name(ch, "").lower()


def preprocess_tweet_v2(text: str) -> str:
    """Version 1, then every emoji spelled out by its Unicode name (😂 → ``face with tears of joy``).

    Why: BERT-style word-piece vocabularies (DistilBERT's, MiniLM's) have no emoji, so version 1 hands the model
    ``[UNK]`` for 😂, 😡 and 😢 alike, and those are often the strongest emotion cue in a tweet (over a quarter of
    TweetEval emotion validation tweets contain one). A run of the same emoji is spelled once, so emoji spam
    cannot push the words out of the sequence. The standard library's Unicode names are used, so the result does
    not depend on an emoji package's version. Applying it twice changes nothing.
    """
    out: list[str] = []
    previous: str | None = None
    for ch in preprocess_tweet_v1(text):
        words = _symbol_words(ch)
        if words is None:
            out.append(ch)
            previous = None
        elif words and ch != previous:
            out.append(f" {words} ")
            previous = ch
    return _SPACE.sub(" ", "".join(out)).strip()


PREPROCESSORS: dict[str, Callable[[str], str]] = {"tweet-v1": preprocess_tweet_v1, "tweet-v2": preprocess_tweet_v2}
# Models trained without naming a version get this one; every model directory records its own.
CURRENT_VERSION = "tweet-v1"


class UnknownPreprocessing(ValueError):
    """A model directory names a preprocessing version this build of badbuzz does not have."""


def get_preprocessor(version: str) -> Callable[[str], str]:
    try:
        return PREPROCESSORS[version]
    except KeyError:
        known = ", ".join(sorted(PREPROCESSORS))
        raise UnknownPreprocessing(
            f"preprocessing version {version!r} is unknown to this badbuzz (known: {known}); "
            "upgrade badbuzz or re-export the model"
        ) from None
