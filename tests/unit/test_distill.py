"""Distillation: which layers a student keeps, the loss, and a student trained through the ordinary loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from badbuzz.models.training.distill import distillation_loss, evenly_spaced, keep_layers


@pytest.mark.parametrize("total, keep, expected", [(6, 3, [1, 3, 5]), (6, 2, [2, 5]), (6, 6, [0, 1, 2, 3, 4, 5]),
                                                   (12, 4, [2, 5, 8, 11]), (2, 1, [1])])
def test_evenly_spaced_layers_end_with_the_last(total: int, keep: int, expected: list[int]) -> None:
    assert evenly_spaced(total, keep) == expected


def test_a_student_cannot_keep_more_layers_than_it_has() -> None:
    with pytest.raises(ValueError, match="between 1 and 6"):
        evenly_spaced(6, 7)


def test_keep_layers_cuts_bert_and_distilbert_and_keeps_the_chosen_weights() -> None:
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    bert = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=6,
                                                    num_attention_heads=2, intermediate_size=32))
    wanted = bert.bert.encoder.layer[3].attention.self.query.weight.detach().clone()
    assert keep_layers(bert, 3) == [1, 3, 5]
    assert len(bert.bert.encoder.layer) == 3 and bert.config.num_hidden_layers == 3
    assert torch.equal(bert.bert.encoder.layer[1].attention.self.query.weight, wanted)
    bert(input_ids=torch.tensor([[1, 2, 3]]))  # still runs
    distil = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=50, dim=16, n_layers=2, n_heads=2,
                                                                  hidden_dim=32))
    assert keep_layers(distil, 1) == [1] and distil.config.n_layers == 1
    distil(input_ids=torch.tensor([[1, 2, 3]]))


def test_distillation_loss_is_zero_soft_part_when_the_student_matches() -> None:
    import torch

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5]])
    labels = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert distillation_loss(logits, logits, labels, alpha=0.8, temperature=2.0).item() == pytest.approx(
        0.2 * ce.item(), abs=1e-6)
    worse = distillation_loss(-logits, logits, labels, alpha=1.0, temperature=2.0)
    assert worse.item() > 0.1


def test_a_student_trains_from_its_teacher(tiny_checkpoint: Path, s140_sample: Path, tmp_path: Path) -> None:
    """A one-layer student of a one-layer tiny teacher keeps the teacher's labels and trains like any run."""
    from badbuzz.models.training.train import TrainConfig, train

    out = train(TrainConfig(data=s140_sample, output_dir=tmp_path / "student", base_model=str(tiny_checkpoint),
                            teacher=str(tiny_checkpoint), student_layers=1, max_steps=20, batch_size=16,
                            learning_rate=1e-3, max_length=32, eval_every=20, max_dev_rows=100))
    meta = json.loads((out / "training.json").read_text())
    assert meta["config"]["teacher"] == str(tiny_checkpoint) and meta["config"]["student_layers"] == 1
    assert meta["metrics"]["dev_accuracy"] is not None
    with pytest.raises(ValueError, match="predicts"):
        train(TrainConfig(data=s140_sample, output_dir=tmp_path / "bad", base_model=str(tiny_checkpoint),
                          teacher=str(tiny_checkpoint), labels=["negative", "neutral", "positive"],
                          max_steps=1, max_length=32, max_dev_rows=10))


def test_unlabelled_rows_count_in_the_soft_term_only() -> None:
    import torch

    student = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [1.0, 1.0, 1.0]])
    teacher = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    soft_only = distillation_loss(student, teacher, torch.tensor([-1, -1, -1]), alpha=0.8, temperature=2.0)
    assert soft_only.item() == pytest.approx(
        distillation_loss(student, teacher, torch.tensor([0, 1, 2]), alpha=1.0, temperature=2.0).item())
    mixed = distillation_loss(student, teacher, torch.tensor([0, -1, -1]), alpha=0.8, temperature=2.0)
    hard_first = torch.nn.functional.cross_entropy(student[:1], torch.tensor([0]))
    assert mixed.item() == pytest.approx(0.8 * soft_only.item() + 0.2 * hard_first.item() / 3, rel=1e-5)


def test_unlabelled_texts_join_training_only_and_never_repeat_a_labelled_one(tmp_path: Path) -> None:
    from badbuzz.models.training.train import UNLABELLED, TrainConfig, load_examples

    labelled = tmp_path / "labelled.csv"
    labelled.write_text("text,label\n" + "".join(f"tweet number {i} was {'bad' if i % 2 else 'good'},"
                                                  f"{'negative' if i % 2 else 'positive'}\n" for i in range(40)))
    extra = tmp_path / "extra.csv"
    extra.write_text("text,label\nTWEET NUMBER 3 WAS BAD,x\nsomething new,\nsomething new,\n@a something else,\n")
    cfg = TrainConfig(data=None, output_dir=tmp_path, base_model="x", sources=[("csv", labelled)],
                      unlabelled=[("csv", extra)], teacher="teacher", dev_percent=20, max_dev_rows=0)
    train_rows, dev_rows = load_examples(cfg)
    free = [e for e in train_rows if e.label == UNLABELLED]
    assert sorted(e.text for e in free) == ["@user something else", "something new"]
    assert all(e.label != UNLABELLED for e in dev_rows) and len(train_rows) + len(dev_rows) == 42
    with pytest.raises(ValueError, match="need a teacher"):
        load_examples(TrainConfig(data=None, output_dir=tmp_path, base_model="x", sources=[("csv", labelled)],
                                  unlabelled=[("csv", extra)]))
