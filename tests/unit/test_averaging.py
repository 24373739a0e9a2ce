"""Checkpoint averaging: the arithmetic, the refusals, and a real average of two tiny runs that exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from badbuzz.models.training.averaging import average_state_dicts, check_compatible, mix_weights
from badbuzz.services.cli import main


def test_weighted_mean_of_float_tensors_and_first_integer_buffer() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "ids": torch.tensor([0, 1])}
    b = {"w": torch.tensor([3.0, 6.0]), "ids": torch.tensor([5, 5])}
    out = average_state_dicts([a, b], [0.25, 0.75])
    assert torch.allclose(out["w"], torch.tensor([2.5, 5.0]))
    assert out["ids"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="different parameters"):
        average_state_dicts([a, {"w": b["w"]}], [0.5, 0.5])
    with pytest.raises(ValueError, match="different shapes"):
        average_state_dicts([a, {"w": torch.zeros(3), "ids": b["ids"]}], [0.5, 0.5])


def test_mix_weights_normalised_and_checked() -> None:
    assert mix_weights(4, None) == [0.25] * 4
    assert mix_weights(2, [1, 3]) == [0.25, 0.75]
    with pytest.raises(ValueError, match="3 weights for 2"):
        mix_weights(2, [1, 1, 1])
    with pytest.raises(ValueError, match="positive"):
        mix_weights(2, [1, 0])


def test_refuses_checkpoints_from_other_labels_or_splits() -> None:
    base = {"labels": ["negative", "positive"], "preprocessing": "tweet-v1", "max_length": 40, "data_hash": "h",
            "config": {"dev_percent": 3, "sources": [["semeval", "a"]], "data": None}}
    paths = [Path("a"), Path("b")]
    check_compatible([base, json.loads(json.dumps(base))], paths)
    with pytest.raises(ValueError, match="different labels"):
        check_compatible([base, {**base, "labels": ["anger", "joy"]}], paths)
    with pytest.raises(ValueError, match="different split"):
        check_compatible([base, {**base, "config": {**base["config"], "dev_percent": 10}}], paths)


def test_a_fine_tuned_checkpoint_may_be_mixed_with_its_base_only(tmp_path: Path) -> None:
    base_dir, tuned_dir, stranger = tmp_path / "base", tmp_path / "tuned", tmp_path / "other"
    base = {"labels": ["negative", "neutral", "positive"], "preprocessing": "tweet-v1", "max_length": 40,
            "data_hash": "h1", "config": {"dev_percent": 3, "sources": [["semeval", "a"]], "data": None,
                                          "base_model": "minilm"}}
    tuned = {**base, "max_length": 39, "data_hash": "h2",
             "config": {**base["config"], "sources": [["semeval", "a"], ["sentiment140", "b"]],
                        "base_model": str(base_dir)}}
    # more data, another max_length and hash: fine for the checkpoint it started from ...
    check_compatible([tuned, base], [tuned_dir, base_dir])
    # ... not for any other checkpoint with the same metadata
    with pytest.raises(ValueError, match="different max_length"):
        check_compatible([tuned, base], [tuned_dir, stranger])
    # nor for a base trained on a source the fine-tuned run holds no dev rows of
    odd = {**base, "config": {**base["config"], "sources": [["tse", "c"]]}}
    with pytest.raises(ValueError, match="sources"):
        check_compatible([tuned, odd], [tuned_dir, base_dir])
    with pytest.raises(ValueError, match="different labels"):
        check_compatible([tuned, {**base, "labels": ["negative", "positive"]}], [tuned_dir, base_dir])
    with pytest.raises(ValueError, match="dev share"):
        check_compatible([tuned, {**base, "config": {**base["config"], "dev_percent": 10}}], [tuned_dir, base_dir])


def test_average_of_two_runs_is_a_checkpoint_export_accepts(tiny_checkpoint: Path, s140_sample: Path,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoModelForSequenceClassification

    from badbuzz.export.onnx_export import export
    from badbuzz.models.training.train import TrainConfig, config_from_checkpoint, train

    cfg = config_from_checkpoint(tiny_checkpoint)
    first = json.loads((tiny_checkpoint / "training.json").read_text())
    other = train(TrainConfig(data=s140_sample, output_dir=tmp_path / "seed2", base_model=cfg.base_model,
                              max_steps=60, batch_size=32, learning_rate=3e-3, max_length=first["max_length"],
                              eval_every=60, max_dev_rows=cfg.max_dev_rows, seed=2))
    out = tmp_path / "avg"
    assert main(["average", str(tiny_checkpoint), str(other), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "average: dev accuracy" in printed
    meta = json.loads((out / "training.json").read_text())
    assert [c["seed"] for c in meta["averaged_from"]] == [13, 2]
    assert 0.0 < meta["metrics"]["dev_macro_recall"] <= 1.0
    a, b, avg = (AutoModelForSequenceClassification.from_pretrained(p).state_dict()
                 for p in (tiny_checkpoint, other, out))
    key = "classifier.weight"
    assert torch.allclose(avg[key], (a[key] + b[key]) / 2, atol=1e-6)
    assert not torch.allclose(avg[key], a[key])
    assert (export(out, tmp_path / "model") / "model.onnx").is_file()
    with pytest.raises(SystemExit, match="not a training checkpoint"):
        main(["average", str(tiny_checkpoint), str(tmp_path), "--output", str(tmp_path / "x")])


def test_a_base_given_with_relative_paths_mixes_with_a_run_given_absolute_ones() -> None:
    """The recipe runner passes absolute data paths; a base trained from a shell used relative ones. The dev
    split depends on the files, not on how their path was spelled."""
    from badbuzz.models.training.averaging import _check_base

    base = {"labels": ["a", "b"], "preprocessing": "tweet-v1",
            "config": {"dev_percent": 3, "data": None, "sources": [["semeval", "../shared/data/x/semeval.tsv.xz"]]}}
    tuned = {"labels": ["a", "b"], "preprocessing": "tweet-v1",
             "config": {"dev_percent": 3, "data": None, "sources": [["semeval", "/work/shared/data/x/semeval.tsv.xz"],
                                                                   ["sentiment140", "/work/shared/data/s140.csv.xz"]]}}
    _check_base(tuned, base, Path("tuned"), Path("base"))
    base["config"]["sources"].append(["tse", "../shared/data/tse.csv.xz"])
    with pytest.raises(ValueError, match="does not hold out a dev split"):
        _check_base(tuned, base, Path("tuned"), Path("base"))
