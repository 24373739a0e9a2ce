"""The int8 CPU variant derived at load: made from the fp32 graph, qualified against it, served by default only
when qualified, and refused (fp32 served) when a load's int8 no longer matches the qualified one."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from badbuzz.export.int8_qualify import qualify_int8
from badbuzz.export.weight_storage import store_weights_fp16
from badbuzz.models.serving.inference import OnnxSentimentModel, cpu_variant
from badbuzz.models.serving.model_dir import MANIFEST_NAME, InvalidModelDir, ModelManifest, load_manifest
from badbuzz.models.serving.quantize import (
    PROBE_TEXTS,
    SCHEMES,
    fp32_nodes,
    int8_graph,
    int8_scheme,
    probe_mismatch,
    within_gate,
)
from badbuzz.models.serving.stored_weights import SUFFIX, restore_fp32
from tests.conftest import SAMPLE_TEXTS


def _manifest(variants: dict[str, str], derived: dict[str, object] | None = None) -> ModelManifest:
    return ModelManifest(version="v", labels=["negative", "positive"], max_length=8, preprocessing="tweet-v1",
                         variants=variants, derived=dict(derived or {}))


def test_the_cpu_variant_is_int8_only_when_shipped_or_qualified() -> None:
    fp32_only = _manifest({"fp32": "model.onnx"})
    assert cpu_variant(fp32_only, None) == "fp32"
    assert cpu_variant(fp32_only, None, int8_qualified=True) == "int8"
    assert cpu_variant(fp32_only, "int8") == "int8"  # asked for by name: derived from fp32
    assert cpu_variant(_manifest({"fp32": "a", "int8": "b"}), None) == "int8"
    with pytest.raises(InvalidModelDir, match="variant 'fp16' not in model directory"):
        cpu_variant(fp32_only, "fp16")
    with pytest.raises(InvalidModelDir, match="variant 'int8'"):
        cpu_variant(_manifest({"fp16": "h"}), "int8")  # nothing to derive it from


def test_the_gate_is_a_largest_drop_and_a_floor_per_metric() -> None:
    fp32 = {"a": 0.905, "b": 0.736}
    ok, why = within_gate(fp32, {"a": 0.8997, "b": 0.74}, {"a": 0.90, "b": 0.72}, {"a": 0.01, "b": 0.01})
    assert not ok and why == ["a 0.8997 is under the floor 0.90"]
    ok, why = within_gate(fp32, {"a": 0.91, "b": 0.72}, {"a": 0.90}, {"a": 0.01, "b": 0.01})
    assert not ok and "b 0.7200 is more than 0.01 under fp32's 0.7360" in why[0]
    assert within_gate(fp32, {"a": 0.91, "b": 0.72}, {}, {"b": 0.03}) == (True, [])


def test_restoring_fp16_storage_gives_plain_initializers_with_the_same_scores(tiny_model_dir: Path,
                                                                            tmp_path: Path) -> None:
    half = tmp_path / "half.onnx"
    store_weights_fp16(tiny_model_dir / "model.onnx", half)
    model = onnx.load(str(half))
    restored = restore_fp32(model)
    assert restored > 0 and not any(i.name.endswith(SUFFIX) for i in model.graph.initializer)
    assert not any(n.op_type == "Cast" and n.name.endswith(SUFFIX + "_to_fp32") for n in model.graph.node)
    onnx.checker.check_model(model)
    import onnxruntime as ort

    feeds = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32").feeds([[101, 2023, 102]])
    a = ort.InferenceSession(str(half), providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0]
    b = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0]
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert restore_fp32(model) == 0  # nothing left to restore


def test_int8_is_derived_deterministically_and_stays_close_to_fp32(tiny_model_dir: Path) -> None:
    graph = int8_graph(tiny_model_dir / "model.onnx")
    assert graph == int8_graph((tiny_model_dir / "model.onnx").read_bytes())  # same bytes every load
    ops = {n.op_type for n in onnx.load_from_string(graph).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} & ops
    fp32 = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32").predict(SAMPLE_TEXTS).probabilities
    derived = OnnxSentimentModel(_fp32_only(tiny_model_dir), device="cpu", variant="int8")
    assert derived.variant == "int8" and derived.version.endswith(":int8")
    assert np.abs(derived.predict(SAMPLE_TEXTS).probabilities - fp32).max() < 0.1


def test_the_ffn_output_scheme_keeps_one_matmul_per_layer_in_fp32(tiny_model_dir: Path,
                                                                   tiny_emotion_model_dir: Path) -> None:
    for model_dir in (tiny_model_dir, tiny_emotion_model_dir):
        fp32 = onnx.load(str(model_dir / "model.onnx"))
        restore_fp32(fp32)
        matmuls = [n.name for n in fp32.graph.node if n.op_type == "MatMul"]
        kept = fp32_nodes(fp32, "ffn-output-fp32")
        layers = {name.split("/")[3] for name in kept}  # "/bert/encoder/layer.0/…" and the like
        assert kept and len(layers) == len(kept) and set(kept) < set(matmuls), kept
        assert fp32_nodes(fp32, "all") == []
        derived = onnx.load_from_string(int8_graph(model_dir / "model.onnx", "ffn-output-fp32"))
        still = {n.name for n in derived.graph.node if n.op_type == "MatMul"}
        assert set(kept) <= still  # left as fp32 MatMuls; every other weight MatMul became MatMulInteger
        assert len(still) < len(matmuls)
    with pytest.raises(ValueError, match="unknown int8 scheme"):
        fp32_nodes(fp32, "half")
    assert int8_scheme({"default_on_cpu": True}) == "all" and int8_scheme(None) == "all"  # records from before
    assert int8_scheme({"scheme": "ffn-output-fp32"}) == "ffn-output-fp32"


def test_a_load_derives_int8_with_the_recorded_scheme(tiny_model_dir: Path) -> None:
    plain = OnnxSentimentModel(_fp32_only(tiny_model_dir), device="cpu", variant="int8")
    scheme = OnnxSentimentModel(_fp32_only(tiny_model_dir), device="cpu", variant="int8",
                                int8_scheme="ffn-output-fp32")
    assert plain.int8_scheme == "all" and scheme.int8_scheme == "ffn-output-fp32"
    assert plain._int8_key() != scheme._int8_key()  # a cached graph of one is never served as the other
    fp32 = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32").predict(SAMPLE_TEXTS).probabilities
    a, b = (m.predict(SAMPLE_TEXTS).probabilities for m in (plain, scheme))
    assert not np.array_equal(a, b) and np.abs(b - fp32).max() < 0.1


def _fp32_only(model_dir: Path) -> Path:
    """The directory without its shipped int8 file, so int8 has to be derived."""
    out = model_dir.parent / f"{model_dir.name}-fp32-only"
    if not out.exists():
        shutil.copytree(model_dir, out)
        manifest = load_manifest(out)
        for name in [v for k, v in manifest.variants.items() if k != "fp32"]:
            (out / name).unlink()
            manifest.files.pop(name, None)
        manifest.variants = {"fp32": manifest.variants["fp32"]}
        manifest.write(out)
    return out


@pytest.fixture
def emotion_copy(tiny_emotion_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_emotion_model_dir, tmp_path / "emotion"))


def test_qualification_records_the_verdict_and_the_default_follows_it(emotion_copy: Path, data_dir: Path) -> None:
    tests = [("tweeteval-emotion", data_dir / "tweeteval" / "emotion")]
    assert OnnxSentimentModel(emotion_copy, device="cpu").variant == "fp32"  # never qualified
    impossible = qualify_int8(emotion_copy, tests, max_drop=-1.0)  # int8 would have to beat fp32 by a point
    rec = load_manifest(emotion_copy).derived["int8"]
    assert rec == json.loads(json.dumps(impossible.record)) and not impossible.passed and rec["why_not"]
    # every scheme was tried, the last one's figures recorded and the others' kept beside them
    assert rec["scheme"] == SCHEMES[-1] and set(rec["schemes_tried"]) == set(SCHEMES[:-1])
    assert all(t["why_not"] for t in rec["schemes_tried"].values())
    assert OnnxSentimentModel(emotion_copy, device="cpu").variant == "fp32"
    result = qualify_int8(emotion_copy, tests)
    rec = result.record
    key = "tweeteval-emotion/full/macro_f1"
    expected = rec["metrics"]["int8"][key] >= rec["metrics"]["fp32"][key] - 0.03
    assert result.passed is expected and rec["max_drop"] == {key: 0.03} and rec["agreement_texts"] == 374
    assert np.asarray(rec["probe"]).shape == (len(PROBE_TEXTS), 4)
    assert 0.0 <= rec["batch_mates"]["label_agreement"] <= 1.0
    assert OnnxSentimentModel(emotion_copy, device="cpu").variant == ("int8" if expected else "fp32")
    if expected:  # the first scheme that passes is the one recorded, and no other was tried
        assert rec["scheme"] == SCHEMES[0] and rec["schemes_tried"] == {}
    no_guard = qualify_int8(emotion_copy, [], write=False)
    assert not no_guard.passed and no_guard.record["why_not"] == ["no quality-guard test set given"]


def test_a_load_whose_int8_differs_from_the_qualified_one_serves_fp32(emotion_copy: Path, data_dir: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    qualify_int8(emotion_copy, [("tweeteval-emotion", data_dir / "tweeteval" / "emotion")], max_drop=1.0)
    assert OnnxSentimentModel(emotion_copy, device="cpu").variant == "int8"
    doc = json.loads((emotion_copy / MANIFEST_NAME).read_text())
    doc["derived"]["int8"]["probe"][3][0] += 0.2  # as if another ONNX Runtime quantized differently
    doc["derived"]["int8"]["onnxruntime"] = "0.0-other"
    (emotion_copy / MANIFEST_NAME).write_text(json.dumps(doc))
    with caplog.at_level(logging.WARNING, logger="badbuzz.models.serving.inference"):
        model = OnnxSentimentModel(emotion_copy, device="cpu")
    assert model.variant == "fp32" and model.version.endswith(":fp32")
    assert "differ from the qualified ones by up to 0.2" in caplog.text and "0.0-other" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="badbuzz.models.serving.inference"):
        asked = OnnxSentimentModel(emotion_copy, device="cpu", variant="int8")
    assert asked.variant == "int8" and "serving the int8 variant as asked" in caplog.text


def test_the_probe_does_not_depend_on_the_sub_batch_setting(emotion_copy: Path, data_dir: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    qualify_int8(emotion_copy, [("tweeteval-emotion", data_dir / "tweeteval" / "emotion")], max_drop=1.0)
    with caplog.at_level(logging.WARNING, logger="badbuzz.models.serving.inference"):
        variants = {OnnxSentimentModel(emotion_copy, device="cpu", max_batch=n).variant for n in (1, 8, 64)}
    assert variants == {"int8"} and "differ" not in caplog.text


def test_probe_mismatch_explains_itself() -> None:
    probs = np.full((2, 3), 1 / 3, dtype=np.float32)
    assert probe_mismatch({"probe": probs.tolist()}, probs) is None
    assert "no probe" in str(probe_mismatch({}, probs))
    assert "shape" in str(probe_mismatch({"probe": [[0.5, 0.5]]}, probs))


def test_a_derived_int8_graph_is_kept_between_starts_under_what_it_depends_on(
        tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from badbuzz.models.serving import quantize
    from badbuzz.models.serving.graph_cache import cache_key

    source = _fp32_only(tiny_model_dir)
    cache = tmp_path / "graphs"
    first = OnnxSentimentModel(source, device="cpu", variant="int8", cache_dir=cache)
    kept = list(cache.iterdir())
    assert len(kept) == 1 and kept[0].suffix == ".onnx"

    def no_derivation(graph: object, scheme: str = "all") -> bytes:
        raise AssertionError("the second start derived int8 again")

    monkeypatch.setattr(quantize, "int8_graph", no_derivation)
    second = OnnxSentimentModel(source, device="cpu", variant="int8", cache_dir=cache)
    assert second.variant == "int8"
    np.testing.assert_array_equal(second.predict(SAMPLE_TEXTS).probabilities,
                                  first.predict(SAMPLE_TEXTS).probabilities)
    # another graph (another checksum) or another quantizer is another key, never the kept file
    assert cache_key(trunk="a", method="m") != cache_key(trunk="b", method="m") != cache_key(trunk="b", method="n")
    with pytest.raises(InvalidModelDir, match="derived int8 again"):  # without the cache, it derives
        OnnxSentimentModel(source, device="cpu", variant="int8")


def test_the_graph_cache_keeps_only_the_graphs_used_last(tmp_path: Path) -> None:
    import os

    from badbuzz.models.serving.graph_cache import GraphCache

    cache = GraphCache(tmp_path, keep=2)
    made: list[str] = []

    def graph(key: str) -> bytes:
        return cache.get_or_make(key, lambda: made.append(key) or key.encode())

    for i, key in enumerate(["a", "b"]):
        graph(key)
        os.utime(tmp_path / f"{key}.onnx", (1_000 + i, 1_000 + i))  # "a" used before "b"
    assert graph("a") == b"a"  # read back, not made again, and now the most recent
    graph("c")  # a third graph: "b", the least recently used, goes
    assert made == ["a", "b", "c"] and sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "c.onnx"]
