"""Released model directories: fp16 weight storage, checksums checked at load, replacement in place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from badbuzz.export.release import ReleaseError, record_test_metrics, release
from badbuzz.export.weight_storage import store_weights_fp16
from badbuzz.models.serving.inference import DeviceUnavailable, OnnxSentimentModel
from badbuzz.models.serving.model_dir import MANIFEST_NAME, InvalidModelDir, load_manifest, sha256_of
from badbuzz.models.serving.stored_weights import SUFFIX
from tests.conftest import SAMPLE_TEXTS


def stores_fp16(path: Path) -> bool:
    """Whether an ONNX file uses the fp16 storage (reads the graph without the weights' data)."""
    model = onnx.load(str(path), load_external_data=False)
    return any(init.name.endswith(SUFFIX) for init in model.graph.initializer)


@pytest.fixture(scope="module")
def released(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("released") / "sentiment3"
    release(tiny_model_dir, target, task="sentiment3", texts=SAMPLE_TEXTS, recipe="r.toml", checkpoint="ckpt")
    return target


def test_fp16_storage_halves_the_weights_and_keeps_the_scores(tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tiny_model_dir / "model.onnx"
    converted = store_weights_fp16(src, tmp_path / "half.onnx")
    assert converted > 0 and stores_fp16(tmp_path / "half.onnx") and not stores_fp16(src)
    assert (tmp_path / "half.onnx").stat().st_size < 0.6 * src.stat().st_size
    with pytest.raises(ValueError, match="already stores"):
        store_weights_fp16(tmp_path / "half.onnx", tmp_path / "twice.onnx")


def test_release_keeps_only_serving_files_with_checksums(released: Path, tiny_model_dir: Path) -> None:
    manifest = load_manifest(released)
    assert sorted(p.name for p in released.iterdir()) == sorted([MANIFEST_NAME, "config.json", "model.onnx",
                                                                 "tokenizer.json"])
    assert manifest.weight_storage == "fp16" and manifest.variants == {"fp32": "model.onnx"}
    assert manifest.version.startswith("sentiment3-") and manifest.release["source_version"] != manifest.version
    assert manifest.files == {n: sha256_of(released / n) for n in ("config.json", "model.onnx", "tokenizer.json")}
    assert manifest.release["task"] == "sentiment3" and manifest.release["speed"]["tweets_per_second"] > 0
    ours = OnnxSentimentModel(released, device="cpu").predict(SAMPLE_TEXTS).probabilities
    source = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32").predict(SAMPLE_TEXTS).probabilities
    assert np.abs(ours - source).max() == pytest.approx(manifest.parity["fp32"]["max_abs_diff_vs_source"], abs=1e-6)
    assert np.abs(ours - source).max() < 5e-3


def test_a_damaged_file_is_refused_at_load(released: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(released, tmp_path / "copy"))
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit in the middle of the weights: still a loadable graph
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(InvalidModelDir, match=r"model.onnx is damaged or was replaced: SHA-256"):
        OnnxSentimentModel(copy, device="cpu")
    shutil.copy(released / "model.onnx", copy / "model.onnx")
    (copy / "tokenizer.json").unlink()
    with pytest.raises(InvalidModelDir, match="tokenizer"):
        load_manifest(copy)


def test_manifest_cannot_point_outside_the_directory(released: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(released, tmp_path / "copy"))
    doc = json.loads((copy / MANIFEST_NAME).read_text())
    doc["files"]["../../etc/passwd"] = "0" * 64
    (copy / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(InvalidModelDir, match="outside the model directory"):
        load_manifest(copy)


def test_a_new_release_replaces_the_old_one_and_a_failed_one_changes_nothing(
        released: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    target = Path(shutil.copytree(released, tmp_path / "sentiment3"))
    (target / "stale-file.bin").write_bytes(b"left over by an older release")
    before = load_manifest(target).release["released_at"]
    with pytest.raises(ReleaseError, match="needs texts"):
        release(tiny_model_dir, target, task="sentiment3", texts=[])
    assert (target / "stale-file.bin").is_file()  # untouched by the refused release
    release(tiny_model_dir, target, task="sentiment3", texts=SAMPLE_TEXTS[:8])
    assert not (target / "stale-file.bin").exists()
    assert load_manifest(target).release["released_at"] >= before
    assert not list(tmp_path.glob(".sentiment3.*"))  # no staging or previous copies left behind


def test_test_metrics_are_recorded_without_touching_checksums(released: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(released, tmp_path / "copy"))
    record_test_metrics(copy, {"sentiment140-test": {"full": {"accuracy": 0.5, "n": 10}}})
    manifest = load_manifest(copy)  # checksums still verify
    assert manifest.metrics["tests"]["sentiment140-test"]["full"]["accuracy"] == 0.5


def test_cuda_without_a_working_provider(released: Path, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """device=cuda fails at start with a clear message; auto on a machine that looks like it has a GPU but
    cannot start CUDA falls back to the CPU with a warning (this machine has no GPU)."""
    import badbuzz.models.serving.inference as inference

    monkeypatch.setattr(inference.OnnxSentimentModel, "_available_providers",
                        staticmethod(lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]))
    with pytest.raises(DeviceUnavailable, match=r"BADBUZZ_DEVICE=cuda.*BADBUZZ_DEVICE=cpu"):
        OnnxSentimentModel(released, device="cuda")
    monkeypatch.setattr(inference, "gpu_present", lambda: True)
    model = OnnxSentimentModel(released, device="auto")
    assert model.providers == ["CPUExecutionProvider"] and model.variant == "fp32"
    assert "no working CUDA provider" in caplog.text
