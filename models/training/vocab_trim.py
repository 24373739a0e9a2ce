"""Trim a SentencePiece-unigram vocabulary (and its embedding rows) to the pieces a model's languages use.

Why: multilingual-e5-small's 250k-piece embedding is 96M of its 118M weights (~190 MB in fp16), most of it
for scripts and languages our feeds never bring, and a released model file must stay under 50 MB. Pieces
kept: the special tokens, every single-character piece (so any text in these scripts still tokenizes
without ``<unk>``, only into shorter pieces), and every piece the tokenizer chooses on a corpus of the
served languages. The unigram scores are kept, so the trimmed tokenizer segments a text exactly as before
whenever all of the original's pieces survived; otherwise into the best remaining pieces.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
METASPACE = "\u2581"


def single_character_ids(pieces: list[str]) -> set[int]:
    """Pieces of one character, alone or after the word-start marker (``a`` and ``▁a``)."""
    return {i for i, p in enumerate(pieces)
            if len(p) == 1 or (len(p) == 2 and p[0] == METASPACE)}


def used_ids(tokenizer: Any, texts: Iterable[str], batch: int = 2048) -> set[int]:
    """Every piece id the (full) tokenizer chooses on ``texts``."""
    out: set[int] = set()
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) >= batch:
            out.update(i for enc in tokenizer.encode_batch(chunk) for i in enc.ids)
            chunk = []
    if chunk:
        out.update(i for enc in tokenizer.encode_batch(chunk) for i in enc.ids)
    return out


def trim_tokenizer(tokenizer_json: dict[str, Any], keep: set[int]) -> tuple[dict[str, Any], list[int]]:
    """A tokenizer.json with only the ``keep`` pieces (plus the specials), and the old id of each new id.

    Pieces keep their relative order, so the specials stay at 0–3 and ``<mask>`` comes last, as in XLM-R.
    """
    vocab = tokenizer_json["model"]["vocab"]
    specials = {i for i, (piece, _) in enumerate(vocab) if piece in SPECIAL_PIECES}
    specials |= {t["id"] for t in tokenizer_json.get("added_tokens", [])}
    old_ids = sorted((keep | specials) & set(range(len(vocab))))
    new_id = {old: new for new, old in enumerate(old_ids)}
    out = copy.deepcopy(tokenizer_json)
    out["model"]["vocab"] = [vocab[i] for i in old_ids]
    out["model"]["unk_id"] = new_id[tokenizer_json["model"]["unk_id"]]
    for token in out.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    post = out.get("post_processor") or {}
    for special in (post.get("special_tokens") or {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    return out, old_ids


def trim_rows(matrix: npt.NDArray[np.float32], old_ids: list[int]) -> npt.NDArray[np.float32]:
    """The embedding rows of the kept pieces, in the trimmed tokenizer's order."""
    return np.ascontiguousarray(matrix[np.asarray(old_ids)])
