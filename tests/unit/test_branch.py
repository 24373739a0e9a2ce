"""An emotion branch on the sentiment encoder: trained, exported, joined into one graph, released, served.

Built for real on tiny randomly initialised two-layer DistilBERTs (train → export → train-branch →
export-branch → release), so the whole path runs in seconds; the released MiniLM branch is measured in
test_released_models.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from badbuzz.export.branch_export import export_branch
from badbuzz.export.onnx_export import export
from badbuzz.export.release import release
from badbuzz.models.serving.branch_graph import BRANCH_OUTPUT
from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.models.serving.model_dir import InvalidModelDir, load_manifest
from badbuzz.models.serving.scoring import SentimentAndEmotion
from badbuzz.models.training.branch import BranchConfig, train_branch
from badbuzz.models.training.train import TASKS, TrainConfig, train
from tests.conftest import SAMPLE_TEXTS, tiny_distilbert

EMOTIONS = TASKS["emotion4"]


@pytest.fixture(scope="module")
def two_layer_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_distilbert(tmp_path_factory.mktemp("two-layer-base"), 2)


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory, two_layer_base: Path, data_dir: Path) -> dict[str, Path]:
    """A sentiment trunk, an emotion checkpoint + model directory (teacher), and a trained, exported branch."""
    tmp = tmp_path_factory.mktemp("branch")
    emotion_set = data_dir / "tweeteval" / "emotion"
    trunk_ckpt = train(TrainConfig(data=data_dir / "sentiment140" / "sentiment140_random_sample_24934.csv.xz",
                                   output_dir=tmp / "trunk-ckpt", base_model=str(two_layer_base), max_steps=40,
                                   batch_size=32, learning_rate=3e-3, max_length=40, eval_every=40,
                                   max_dev_rows=200))
    emotion_ckpt = train(TrainConfig(data=None, sources=[("tweeteval-emotion", emotion_set)], labels=list(EMOTIONS),
                                     output_dir=tmp / "emotion-ckpt", base_model=str(trunk_ckpt), max_steps=40,
                                     batch_size=32, learning_rate=3e-3, max_length=40, eval_every=40,
                                     max_dev_rows=200))
    trunk = export(trunk_ckpt, tmp / "trunk", quantize_int8=False, fp16=False)
    teacher = export(emotion_ckpt, tmp / "teacher", quantize_int8=False, fp16=False)
    run = train_branch(BranchConfig(trunk=trunk, init=emotion_ckpt, teacher=teacher, output_dir=tmp / "run",
                                    labelled=[("tweeteval-emotion", emotion_set)], layers=1, max_steps=20,
                                    eval_every=10, learning_rate=1e-3))
    return {"trunk": trunk, "trunk_ckpt": trunk_ckpt, "emotion_ckpt": emotion_ckpt, "teacher": teacher,
            "run": run, "branch": export_branch(run, tmp / "branch"), "tmp": tmp}


def test_the_joined_graph_computes_the_branch_on_the_trunks_hidden_states(parts: dict[str, Path]) -> None:
    import torch
    from transformers import AutoModel

    from badbuzz.models.training.branch import branch_module

    joined = OnnxSentimentModel(parts["trunk"], device="cpu", branch_dir=parts["branch"])
    pred = joined.predict(SAMPLE_TEXTS)
    assert pred.branch_probabilities is not None and pred.branch_probabilities.shape == (len(SAMPLE_TEXTS), 4)
    # reference: PyTorch trunk → hidden states after layer 0 → PyTorch branch (its best weights)
    meta = json.loads((parts["run"] / "branch.json").read_text())
    assert meta["layer"] == 0 and meta["layers"] == 1
    encoder = AutoModel.from_pretrained(parts["trunk_ckpt"], attn_implementation="eager").eval()
    module = branch_module(parts["emotion_ckpt"], 1)
    module.load_state_dict(torch.load(parts["run"] / "best.pt"))
    module.eval()
    with torch.no_grad():
        for ids, probs in zip(joined.encode(SAMPLE_TEXTS), pred.branch_probabilities, strict=True):
            x = torch.tensor([ids])
            hidden = encoder(input_ids=x, output_hidden_states=True).hidden_states[1]
            ref = torch.softmax(module(hidden, torch.ones_like(x)), -1)[0].numpy()
            np.testing.assert_allclose(probs, ref, atol=1e-4)
    # the sentiment head is untouched by the branch, and the emotions are the branch's
    alone = OnnxSentimentModel(parts["trunk"], device="cpu").predict(SAMPLE_TEXTS)
    np.testing.assert_allclose(pred.probabilities, alone.probabilities, atol=1e-6)
    assert pred.emotions is not None and sorted(pred.emotions[0] or {}) == EMOTIONS
    assert BRANCH_OUTPUT in {o.name for o in joined._session.get_outputs()}


def test_a_branch_refuses_a_trunk_it_was_not_trained_on(parts: dict[str, Path], tiny_model_dir: Path) -> None:
    with pytest.raises(InvalidModelDir, match="trained on sentiment model"):
        OnnxSentimentModel(tiny_model_dir, device="cpu", branch_dir=parts["branch"])
    with pytest.raises(InvalidModelDir, match="not a branch"):
        OnnxSentimentModel(parts["trunk"], device="cpu", branch_dir=parts["teacher"])


@pytest.mark.parametrize("scope", ["negative", "all", "off"])
def test_scopes_with_a_branch(parts: dict[str, Path], scope: str) -> None:
    model = SentimentAndEmotion(OnnxSentimentModel(parts["trunk"], device="cpu", branch_dir=parts["branch"]), None,
                                scope)  # type: ignore[arg-type]
    pred = model.predict(SAMPLE_TEXTS)
    if scope == "off":
        assert pred.emotions is None and model.emotion_version is None
        return
    assert model.emotion_version is not None and pred.emotion_model == model.emotion_version
    assert model.emotion_labels == EMOTIONS
    assert pred.emotions is not None
    for label, emo in zip(pred.decided_labels(), pred.emotions, strict=True):
        assert (emo is not None) == (scope == "all" or label == "negative")


def test_training_resumes_and_the_release_runs_from_its_own_folder(parts: dict[str, Path], data_dir: Path) -> None:
    tmp = parts["tmp"]
    cfg = BranchConfig(trunk=parts["trunk"], init=parts["emotion_ckpt"], teacher=parts["teacher"],
                       output_dir=tmp / "resumed", labelled=[("tweeteval-emotion", data_dir / "tweeteval" / "emotion")],
                       layers=1, max_steps=10, eval_every=5, learning_rate=1e-3)
    train_branch(cfg)
    cfg.max_steps, cfg.resume = 20, True
    meta = json.loads((train_branch(cfg) / "branch.json").read_text())
    assert meta["steps"] == 20 and [h["step"] for h in meta["history"]][:3] == [1, 2, 3]
    assert len(meta["history"]) == 20  # the first ten steps kept from the interrupted run, not redone
    # released next to a trunk, it finds the trunk through its relative path
    trunk_copy = tmp / "released" / "sentiment3"
    release(parts["trunk"], trunk_copy, task="sentiment3", texts=SAMPLE_TEXTS)
    # the trunk's file changed (fp16 storage): a branch trained on the exported file must refuse it ...
    with pytest.raises(InvalidModelDir, match="trained on sentiment model"):
        OnnxSentimentModel(trunk_copy, device="cpu", branch_dir=parts["branch"])
    # ... while released beside the exact trunk it was trained on, it loads from its own folder
    target = parts["trunk"].parent / "emotion4-released"
    report = release(parts["branch"], target, task="emotion4", texts=SAMPLE_TEXTS)
    assert report.label_agreement >= 0.995
    manifest = load_manifest(target)
    assert manifest.trunk["dir"] == "../trunk" and manifest.files["model.onnx"]
    view = OnnxSentimentModel(target, device="cpu")
    assert view.labels == EMOTIONS and view.predict(SAMPLE_TEXTS).probabilities.shape == (len(SAMPLE_TEXTS), 4)


def test_a_head_on_a_lower_layer_is_a_shallower_model_that_still_carries_the_emotion_branch(
        parts: dict[str, Path], data_dir: Path) -> None:
    """A sentiment head reading layer 0 of the two-layer trunk: the trunk's layer 1 and head are cut off."""
    import onnx
    import torch
    from transformers import AutoModel

    from badbuzz.models.serving.branch_graph import layer_output
    from badbuzz.models.training.branch import branch_module

    tmp = parts["tmp"]
    s140 = data_dir / "sentiment140" / "sentiment140_random_sample_24934.csv.xz"
    run = train_branch(BranchConfig(trunk=parts["trunk"], init=parts["trunk_ckpt"], teacher=parts["trunk"],
                                    output_dir=tmp / "head-run", labelled=[("sentiment140", s140)], layers=0,
                                    read_layer=0, max_steps=20, eval_every=10, learning_rate=1e-3, dev_percent=3,
                                    labelled_per_batch=0, hard_weight=0.5))
    head_dir = export_branch(run, tmp / "head")
    head = OnnxSentimentModel(head_dir, device="cpu")
    assert head.labels == ["negative", "positive"] and head.trunk_dir.resolve() == parts["trunk"].resolve()
    served = onnx.load_from_string(head._graph(head.trunk.variants["fp32"]))
    layer_output(served.graph, 0)
    with pytest.raises(ValueError):
        layer_output(served.graph, 1)  # the layer above the head's is not in the served graph
    pred = head.predict(SAMPLE_TEXTS)
    encoder = AutoModel.from_pretrained(parts["trunk_ckpt"], attn_implementation="eager").eval()
    module = branch_module(parts["trunk_ckpt"], 0)
    module.load_state_dict(torch.load(run / "best.pt"))
    module.eval()
    with torch.no_grad():
        for ids, probs in zip(head.encode(SAMPLE_TEXTS), pred.probabilities, strict=True):
            x = torch.tensor([ids])
            hidden = encoder(input_ids=x, output_hidden_states=True).hidden_states[1]
            np.testing.assert_allclose(probs, torch.softmax(module(hidden, torch.ones_like(x)), -1)[0].numpy(),
                                       atol=1e-4)
    # the emotion branch (trained on the same trunk file) rides on the shallower graph
    both = OnnxSentimentModel(head_dir, device="cpu", branch_dir=parts["branch"]).predict(SAMPLE_TEXTS)
    np.testing.assert_allclose(both.probabilities, pred.probabilities, atol=1e-6)
    full = OnnxSentimentModel(parts["trunk"], device="cpu", branch_dir=parts["branch"]).predict(SAMPLE_TEXTS)
    assert both.branch_probabilities is not None and full.branch_probabilities is not None
    np.testing.assert_allclose(both.branch_probabilities, full.branch_probabilities, atol=1e-6)
