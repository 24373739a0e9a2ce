"""Labelled tweet sets beyond Sentiment140, as (id, text, label) examples with one label vocabulary.

- TweetEval (``*_text.txt`` + ``*_labels.txt`` + ``mapping.txt``), sentiment or emotion.
- SemEval 2013–2016 Task 4A merged TSV (``tweet_id, label, source_file, in_tweeteval_val, text``); rows that
  are also in TweetEval's validation split can be dropped so that split stays an honest test.
- Kaggle Tweet Sentiment Extraction (``textID, text, sentiment``; backticks stand for apostrophes).
- Any CSV with a text column (and optionally a label column).
Combining sets deduplicates by normalised text, so one tweet never sits on both sides of a split.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from badbuzz.models.data import DataFormatError, iter_sentiment140, open_text, stable_bucket

SENTIMENT3 = ["negative", "neutral", "positive"]
EMOTION4 = ["anger", "joy", "optimism", "sadness"]
_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    label: str
    source: str


def tweeteval(folder: Path, split: str) -> Iterator[Example]:
    """``folder`` is e.g. ``tweeteval/sentiment``; ``split`` is train, val or test."""
    mapping = {}
    for line in (folder / "mapping.txt").read_text().splitlines():
        if line.strip():
            idx, name = line.split("\t") if "\t" in line else line.split(maxsplit=1)
            mapping[idx.strip()] = name.strip()
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / f"{split}_labels.txt").read_text().split()
    if len(texts) != len(labels):
        raise DataFormatError(f"{folder}: {len(texts)} texts but {len(labels)} labels in split {split!r}")
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        yield Example(f"tweeteval-{folder.name}-{split}-{i}", text, mapping[label], f"tweeteval/{folder.name}")


UMSAB_LANGUAGES = ("arabic", "english", "french", "german", "hindi", "italian", "portuguese", "spanish")
UMSAB_CODES = {"arabic": "ar", "english": "en", "french": "fr", "german": "de", "hindi": "hi", "italian": "it",
               "portuguese": "pt", "spanish": "es"}


def umsab_folder(data: Path | None, language: str) -> Path | None:
    """One UMSAB language's folder beside the Sentiment140 data (``umsab/<language>`` in the data folder, or
    in the folder above the Sentiment140 file or folder given), if there: the demo's and the language bench's
    second language."""
    if data is None:
        return None
    here = data if data.is_dir() else data.parent
    for root in (here, here.parent):
        folder = root / "umsab" / language
        if (folder / "train_text.txt").is_file():
            return folder
    return None


def umsab(folder: Path, split: str) -> Iterator[Example]:
    """UMSAB (XLM-T's multilingual tweet sentiment): ``folder`` is one language's folder
    (``umsab/french``) or the root holding all of them; labels 0/1/2 are negative/neutral/positive.
    The example's source names its language (``umsab/french``), so reports and dev splits can go per language."""
    folder = Path(folder)
    languages = [folder] if (folder / f"{split}_text.txt").is_file() else sorted(
        p for p in folder.iterdir() if (p / f"{split}_text.txt").is_file())
    if not languages:
        raise DataFormatError(f"{folder}: no UMSAB {split} split (expected {split}_text.txt and {split}_labels.txt)")
    for lang in languages:
        texts = (lang / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (lang / f"{split}_labels.txt").read_text().split()
        if len(texts) != len(labels):
            raise DataFormatError(f"{lang}: {len(texts)} texts but {len(labels)} labels in split {split!r}")
        for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
            yield Example(f"umsab-{lang.name}-{split}-{i}", text, SENTIMENT3[int(label)], f"umsab/{lang.name}")


def semeval(path: Path, *, drop_tweeteval_val: bool = True) -> Iterator[Example]:
    with open_text(path, "utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            if drop_tweeteval_val and row.get("in_tweeteval_val") == "1":
                continue
            text = _unescape(row["text"])
            yield Example(f"semeval-{row['tweet_id']}", text, row["label"].strip().lower(), "semeval")


def tweet_sentiment_extraction(path: Path) -> Iterator[Example]:
    with open_text(path, "utf-8") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("text") or "").replace("`", "'").strip()
            if text:
                yield Example(f"tse-{row['textID']}", text, row["sentiment"].strip().lower(), "tse")


def sentiment140(path: Path) -> Iterator[Example]:
    """Sentiment140 rows as examples; an id seen twice with different labels is dropped (both rows)."""
    rows = list(iter_sentiment140(path))
    labels: dict[str, set[str]] = {}
    for r in rows:
        labels.setdefault(r.id, set()).add(r.label)
    seen: set[str] = set()
    for r in rows:
        if len(labels[r.id]) == 1 and r.id not in seen:
            seen.add(r.id)
            yield Example(f"s140-{r.id}", r.text, r.label, "sentiment140")


def csv_texts(path: Path, text_column: str = "text", label_column: str | None = None) -> Iterator[Example]:
    with open_text(path, "utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or text_column not in reader.fieldnames:
            raise DataFormatError(f"{path}: no column {text_column!r} (columns: {reader.fieldnames})")
        for i, row in enumerate(reader):
            label = (row.get(label_column) or "").strip().lower() if label_column else ""
            yield Example(row.get("id") or f"{path.stem}-{i}", row[text_column] or "", label, path.stem)


def normalised(text: str) -> str:
    return " ".join(re.sub(r"https?://\S+|@\w+", " ", text.lower()).split())


def combine(*sets: Iterable[Example], labels: list[str]) -> list[Example]:
    """Concatenate, keep only known labels, and drop repeats of the same normalised text (first wins)."""
    out: list[Example] = []
    seen: set[str] = set()
    for examples in sets:
        for ex in examples:
            key = normalised(ex.text)
            if ex.label in labels and key and key not in seen:
                seen.add(key)
                out.append(ex)
    return out


def capped(examples: Iterable[Example], limit: int) -> list[Example]:
    """At most ``limit`` of ``examples`` (0: all), chosen by a hash of their id: the same rows whatever the
    file's order, and a uniform sample of it rather than its first (often oldest) part."""
    rows = list(examples)
    if limit <= 0 or len(rows) <= limit:
        return rows
    return sorted(rows, key=lambda ex: stable_bucket(ex.id, 1 << 62))[:limit]


def split(examples: Iterable[Example], dev_percent: int = 10, test_percent: int = 0) -> dict[str, list[Example]]:
    """Stable, exactly stratified split: within each label, examples ranked by a hash of their normalised
    text; the lowest ranks go to test, then dev. Independent of file order and of the other labels."""
    by_label: dict[str, list[tuple[int, Example]]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append((stable_bucket(normalised(ex.text) + "\x00" + ex.id, 1 << 62), ex))
    parts: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    for ranked in by_label.values():
        ranked.sort(key=lambda pair: pair[0])
        n_test = round(len(ranked) * test_percent / 100)
        n_dev = round(len(ranked) * dev_percent / 100)
        for i, (_, ex) in enumerate(ranked):
            parts["test" if i < n_test else "dev" if i < n_test + n_dev else "train"].append(ex)
    return parts


def _unescape(text: str) -> str:
    if "\\u" not in text:
        return text
    return _ESCAPE.sub(lambda m: codecs.decode(m.group(0), "unicode_escape"), text)
