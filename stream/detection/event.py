"""The alert event: what the communications team receives, in every channel, in one shape."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

ALERT_VERSION = 1


@dataclass(frozen=True)
class AlertEvent:
    alert_id: str
    topic: str
    state: Literal["firing", "resolved"]
    fired_at: datetime
    window_start: datetime
    window_end: datetime
    negative_rate: float
    baseline_rate: float
    volume: int
    p_value: float
    top_terms: list[tuple[str, float]] = field(default_factory=list)
    examples: list[dict[str, str]] = field(default_factory=list)
    resolved_at: datetime | None = None
    # share of the window's negative tweets whose dominant emotion is each one (empty: no emotion model)
    emotions: dict[str, float] = field(default_factory=dict)
    # the test that fired (stream/detection/detector.py): "share" of negatives or "volume" of negatives, over
    # a window of scale_minutes; expected_negatives is the usual count for that window (volume signal)
    signal: str = "share"
    scale_minutes: int = 0
    expected_negatives: float | None = None
    # share of the window's negative tweets in each language (stored or detected), largest first
    languages: dict[str, float] = field(default_factory=dict)
    # share of the window's negative tweets that have emotions at all (only languages the emotion model was
    # validated on get them): the mood line speaks for this share, not for every negative tweet
    emotion_coverage: float | None = None
    # how big (stream/detection/severity.py): "critical", "high" or "moderate"; the page sorts by it
    severity: str = "moderate"
    # what the baselines stood on when it fired: minutes of the topic's history, and that said in words
    history_minutes: int | None = None
    baseline_note: str = ""

    @property
    def idempotency_key(self) -> str:
        return f"{self.alert_id}:{self.state}"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        for k in ("fired_at", "window_start", "window_end", "resolved_at"):
            doc[k] = doc[k].isoformat() if doc[k] is not None else None
        doc["top_terms"] = [{"term": t, "z": z} for t, z in self.top_terms]
        doc["version"] = ALERT_VERSION
        return doc

    def encode(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True)

    def summary(self) -> str:
        words = ", ".join(t for t, _ in self.top_terms[:5]) or "no single term stands out"
        if self.state == "resolved":
            return (f"RESOLVED bad buzz on '{self.topic}': negative share back to {self.negative_rate:.0%} "
                    f"(usual {self.baseline_rate:.0%}).")
        mood = emotion_phrase(self.emotions)
        when = f"{self.window_start:%H:%M}–{self.window_end:%H:%M} UTC, {scale_phrase(self.scale_minutes)}"
        if self.signal == "volume" and self.expected_negatives is not None:
            negatives = round(self.negative_rate * self.volume)
            what = (f"{negatives} negative tweets ({when}) where about {self.expected_negatives:.0f} are usual "
                    f"({negatives / max(self.expected_negatives, 1e-9):.1f}x); {self.negative_rate:.0%} of "
                    f"{self.volume} tweets negative vs usual {self.baseline_rate:.0%}")
        else:
            what = (f"{self.negative_rate:.0%} negative over {self.volume} tweets ({when}) "
                    f"vs usual {self.baseline_rate:.0%}")
        langs = language_phrase(self.languages)
        covered = self.emotion_coverage
        mood_of = f" (of the {covered:.0%} with emotions)" if covered is not None and covered < 0.995 else ""
        return (f"Bad buzz on '{self.topic}' ({self.severity}): {what}; p={self.p_value:.1e}. Words: {words}."
                + (f" Languages: {langs}." if langs else "")
                + (f" Mood{mood_of}: {mood}." if mood else "")
                + (f" Baseline: {self.baseline_note}." if self.baseline_note else ""))


def scale_phrase(minutes: int) -> str:
    """``"last 10 min"``, ``"last 3 h"``: the window an alert was found on, as a person says it."""
    if minutes <= 0:
        return "last minutes"
    return f"last {minutes // 60} h" if minutes >= 60 and minutes % 60 == 0 else f"last {minutes} min"


def emotion_mix(emotions: Iterable[dict[str, float] | None]) -> dict[str, float]:
    """Share of tweets whose most probable emotion is each label (tweets without emotions are skipped),
    rounded to 3 decimals, largest first. Dominant-label shares read as "71% anger" in a sentence; mean
    probabilities would blur a clear majority into flat numbers."""
    counts: dict[str, int] = {}
    n = 0
    for probs in emotions:
        if not probs:
            continue
        top = max(sorted(probs), key=lambda k: probs[k])
        counts[top] = counts.get(top, 0) + 1
        n += 1
    return {k: round(v / n, 3) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))} if n else {}


LANGUAGE_NAMES = {"ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French", "hi": "Hindi",
                  "it": "Italian", "nl": "Dutch", "pt": "Portuguese", "und": "undetermined"}


def language_mix(langs: Iterable[str | None]) -> dict[str, float]:
    """Share of tweets per language (``None`` counts as ``und``), rounded to 3 decimals, largest first."""
    counts: dict[str, int] = {}
    for lang in langs:
        key = (lang or "und").split("-")[0].lower()
        counts[key] = counts.get(key, 0) + 1
    n = sum(counts.values())
    return {k: round(v / n, 3) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))} if n else {}


def language_phrase(mix: dict[str, float], *, min_share: float = 0.05, most: int = 3) -> str:
    """``"62% French, 38% English"``; empty when every tweet is English (nothing worth saying)."""
    if not mix or set(mix) == {"en"}:
        return ""
    parts = [f"{share:.0%} {LANGUAGE_NAMES.get(code, code)}" for code, share in mix.items() if share >= min_share]
    return ", ".join(parts[:most])


def pick_examples(negatives: list[tuple[str, str, float, str | None]], mix: dict[str, float],
                  n: int = 5) -> list[dict[str, str]]:
    """The most negative tweets, shared out among the languages of the wave (largest first, at least one
    for every language holding 20 % of it): a French wave shows French tweets, not only the English ones."""
    by_lang: dict[str, list[tuple[str, str, float, str | None]]] = {}
    for row in negatives:  # already most negative first
        by_lang.setdefault((row[3] or "und").split("-")[0].lower(), []).append(row)
    order = [lang for lang, share in mix.items() if share >= 0.2] or list(mix)
    chosen: list[tuple[str, str, float, str | None]] = []
    while len(chosen) < n and any(by_lang.get(lang) for lang in order):
        for lang in order:
            if by_lang.get(lang) and len(chosen) < n:
                chosen.append(by_lang[lang].pop(0))
    if len(chosen) < n:  # fill with the most negative of the rest
        rest = sorted((r for rows in by_lang.values() for r in rows), key=lambda r: -r[2])
        chosen += rest[: n - len(chosen)]
    return [{"id": i, "text": t, **({"lang": lang} if lang else {})} for i, t, _, lang in chosen]


def emotion_phrase(mix: dict[str, float], *, min_share: float = 0.1, most: int = 3) -> str:
    """``"71% anger, 18% sadness"``: the emotions holding at least ``min_share`` of the tweets."""
    parts = [f"{share:.0%} {name}" for name, share in sorted(mix.items(), key=lambda kv: (-kv[1], kv[0]))
             if share >= min_share]
    return ", ".join(parts[:most])


def slack_payload(event: AlertEvent) -> dict[str, Any]:
    """Slack-compatible incoming-webhook JSON (``text`` + ``blocks``), with the full event under ``badbuzz``."""
    lines = [f"*{event.summary()}*"]
    for ex in event.examples[:3]:
        lines.append(f"> {ex.get('text', '')[:200]}")
    return {
        "text": event.summary(),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}],
        "badbuzz": event.to_json(),
    }
