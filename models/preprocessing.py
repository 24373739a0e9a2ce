"""Tweet normalisation shared by training and serving.

The version string is written into every model directory; the scorer refuses a model whose version it does
not know, so serving can never silently drift from what the model was trained on. Never change a
registered function: add a new version instead.
"""

from __future__ import annotations

import html
import re
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


PREPROCESSORS: dict[str, Callable[[str], str]] = {"tweet-v1": preprocess_tweet_v1}
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
