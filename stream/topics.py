"""Watched topics: which tweets are about what, decided once per tweet, case- and accent-insensitively.

A topic is a named set of rules: keywords or phrases (whole words), @mentions, #hashtags and regular
expressions. Every tweet also belongs to the implicit topic ``all``. Topics a producer already attached
to a message are kept. Configuration is JSON (``BADBUZZ_TOPICS_FILE``), e.g.::

    {"topics": [{"name": "air-paradis", "mentions": ["airparadis"], "keywords": ["air paradis"]},
                {"name": "delays", "keywords": ["delay", "delayed", "late"], "hashtags": ["fail"]}]}
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from badbuzz.stream.limits import TOPIC_NAME

ALL = "all"


def fold(text: str) -> str:
    """Lower-case and strip accents: ``Évènement`` → ``evenement``, so rules match however people type."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class TopicRule:
    name: str
    keywords: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, name: str, *, keywords: Iterable[str] = (), mentions: Iterable[str] = (),
              hashtags: Iterable[str] = (), regexes: Iterable[str] = ()) -> TopicRule:
        if not TOPIC_NAME.match(name) or name == ALL:
            raise ValueError(f"invalid topic name {name!r}: lower-case letters, digits, '-', '_', '.'; not 'all'")
        parts = [r"(?<!\w)" + r"\s+".join(map(re.escape, fold(k).split())) + r"(?!\w)" for k in keywords if k.strip()]
        parts += [r"(?<![\w@])@" + re.escape(fold(m).lstrip("@")) + r"(?!\w)" for m in mentions if m.strip()]
        parts += [r"(?<![\w#])#" + re.escape(fold(h).lstrip("#")) + r"(?!\w)" for h in hashtags if h.strip()]
        for rx in regexes:
            try:
                re.compile(rx)
            except re.error as exc:
                raise ValueError(f"topic {name!r}: invalid regular expression {rx!r}: {exc}") from None
            parts.append(f"(?:{rx})")
        if not parts:
            raise ValueError(f"topic {name!r} has no rules")
        return cls(name, tuple(keywords), tuple(mentions), tuple(hashtags), tuple(regexes),
                   re.compile("|".join(parts), re.IGNORECASE))

    def matches(self, folded_text: str) -> bool:
        assert self._pattern is not None
        return self._pattern.search(folded_text) is not None


class TopicMatcher:
    """Assigns topics to tweets; ``all`` always comes first."""

    def __init__(self, rules: Sequence[TopicRule]) -> None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate topic names in {names}")
        self.rules = list(rules)

    @property
    def names(self) -> list[str]:
        return [ALL, *(r.name for r in self.rules)]

    def assign(self, text: str, upstream: Iterable[str] = ()) -> tuple[str, ...]:
        folded = fold(text)
        found = [ALL, *upstream, *(r.name for r in self.rules if r.matches(folded))]
        return tuple(dict.fromkeys(found))

    @classmethod
    def from_config(cls, doc: object) -> TopicMatcher:
        if not isinstance(doc, dict) or not isinstance(doc.get("topics"), list):
            raise ValueError('topics config must be a JSON object {"topics": [...]}')
        rules = []
        for entry in doc["topics"]:
            if not isinstance(entry, dict) or "name" not in entry:
                raise ValueError(f"each topic needs a name: {entry!r}")
            rules.append(TopicRule.build(
                str(entry["name"]),
                keywords=_strings(entry, "keywords"), mentions=_strings(entry, "mentions"),
                hashtags=_strings(entry, "hashtags"), regexes=_strings(entry, "regexes"),
            ))
        return cls(rules)

    @classmethod
    def from_file(cls, path: Path | None) -> TopicMatcher:
        if path is None:
            return cls([])
        try:
            return cls.from_config(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read topics file {path}: {exc}") from None


def _strings(entry: dict[str, object], key: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"topic {entry.get('name')!r}: {key} must be a list of strings")
    return list(value)
