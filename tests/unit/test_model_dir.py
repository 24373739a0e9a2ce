from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.models.serving.model_dir import MANIFEST_NAME, InvalidModelDir, load_manifest


def broken_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_refuses_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelDir, match="does not exist"):
        load_manifest(tmp_path / "nope")


def test_refuses_directory_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelDir, match="badbuzz export"):
        load_manifest(tmp_path)


def test_refuses_unknown_preprocessing(tiny_model_dir: Path, tmp_path: Path) -> None:
    d = broken_copy(tiny_model_dir, tmp_path / "m")
    doc = json.loads((d / MANIFEST_NAME).read_text())
    doc["preprocessing"] = "tweet-v42"
    (d / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(InvalidModelDir, match="tweet-v42"):
        load_manifest(d)


def test_refuses_missing_onnx_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    d = broken_copy(tiny_model_dir, tmp_path / "m")
    (d / "model.onnx").unlink()
    with pytest.raises(InvalidModelDir, match=r"lacks model.onnx"):
        load_manifest(d)


def test_refuses_corrupt_onnx_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    d = broken_copy(tiny_model_dir, tmp_path / "m")
    (d / "model.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(InvalidModelDir, match="cannot load"):
        OnnxSentimentModel(d, device="cpu", variant="fp32")
