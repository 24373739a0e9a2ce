"""Field limits of the ``tweets.raw`` contract: one source of truth for validation and the storage schema.

The scorer's validation checks every field against these numbers and the storage tables are declared with
them, so anything that passes validation can be stored: a message the database would reject is caught
(and dead-lettered with a clear reason) before it can fail a whole batch.
"""

from __future__ import annotations

import re

# 512: a Bluesky post's id is its AT URI (at://<did>/app.bsky.feed.post/<rkey>), 70 characters with a did:plc
# and longer with a did:web; a tweet id is at most 20 digits
TWEET_ID_MAX_CHARS = 512
USER_MAX_CHARS = 256
LANG_MAX_CHARS = 16
TOPIC_MAX_CHARS = 64
TOPICS_MAX_COUNT = 32
LABEL_MAX_CHARS = 32
MODEL_VERSION_MAX_CHARS = 128
ALERT_ID_MAX_CHARS = TOPIC_MAX_CHARS + 64  # topic + "-YYYYmmddTHHMM-" + a random suffix, with room to spare

#: Watched-topic names: lower case, digits, ``_ . -``; they end up in metric labels, Redis keys and URLs.
TOPIC_NAME = re.compile(rf"^[a-z0-9][a-z0-9_.-]{{0,{TOPIC_MAX_CHARS - 1}}}$")
#: A language tag as X and Bluesky send them (``en``, ``pt-BR``, ``und``, ``zh-Hant``).
LANG_TAG = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")

#: C0 control characters (NUL included) and DEL, less tab / line feed / carriage return, which tweets carry.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Single-line fields (id, user) allow no control character at all.
_CONTROL_IN_NAME = re.compile(r"[\x00-\x1f\x7f]")
#: A lone UTF-16 surrogate: JSON can spell it (``"\\ud800"``) but UTF-8 cannot encode it, nor can any store.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def bad_character(value: str, *, multiline: bool) -> str | None:
    """Describe the first character of ``value`` that no store accepts, or ``None`` when all are fine."""
    found = (_CONTROL_IN_TEXT if multiline else _CONTROL_IN_NAME).search(value) or _SURROGATE.search(value)
    if found is None:
        return None
    char = found.group()
    what = "a lone surrogate" if _SURROGATE.match(char) else "a control character"
    return f"{what} U+{ord(char):04X} at position {found.start()}"
