"""evaluate / score-file / compare on the tiny model: the commands' plumbing on real test files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from badbuzz.models.training.evaluation import align, evaluate_scorer, load_test, model_dir_scorer, write_reports
from badbuzz.services.cli import main
from badbuzz.services.tools.score_file import score_file


def test_binary_model_on_the_three_way_official_test_set(tiny_model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    examples = load_test("sentiment140-test", data_dir / "sentiment140" / "testdata.manual.2009.06.14.csv")
    scorer, labels, _ = model_dir_scorer(tiny_model_dir, "fp32")
    reports = evaluate_scorer(scorer, labels, examples, bootstrap=50)
    assert reports["full"].n == 498 and reports["full"].labels == ["negative", "neutral", "positive"]
    assert reports["negative_vs_positive"].n == 359
    assert 0.5 < reports["negative_vs_positive"].accuracy <= 1.0  # the tiny model learned something
    json_path, md_path = write_reports(reports, tmp_path / "r", "tiny")
    assert json.loads(json_path.read_text())["full"]["n"] == 498 and "F-beta(2)" in md_path.read_text()


def test_align_refuses_incompatible_labels() -> None:
    probs = np.array([[0.2, 0.8]])
    with pytest.raises(ValueError, match="cannot be scored"):
        align(probs, ["negative", "positive"], ["anger", "joy"], 0.1)


def test_score_file_adds_probabilities(tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,"worst flight ever"\n2,"lovely crew"\n3,\n')
    n = score_file(tiny_model_dir, src, tmp_path / "out.csv")
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert n == 3 and [r["id"] for r in rows] == ["1", "2", "3"]
    assert all(abs(float(r["p_negative"]) + float(r["p_positive"]) - 1) < 1e-4 for r in rows)
    with pytest.raises(ValueError, match="no column 'tweet'"):
        score_file(tiny_model_dir, src, tmp_path / "x.csv", text_column="tweet")


def test_evaluate_command_writes_reports(tiny_model_dir: Path, data_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--model", str(tiny_model_dir), "--test",
                 f"tweeteval-sentiment={data_dir / 'tweeteval' / 'sentiment'}", "--output", str(tmp_path / "rep")])
    assert code == 0
    assert "macro recall" in capsys.readouterr().out and (tmp_path / "rep.md").is_file()


def test_evaluate_command_reports_every_test_set(tiny_model_dir: Path, data_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    tests = ["--test", f"tweeteval-sentiment={data_dir / 'tweeteval' / 'sentiment'}",
             "--test", f"sentiment140-test={data_dir / 'sentiment140' / 'testdata.manual.2009.06.14.csv'}"]
    assert main(["evaluate", "--model", str(tiny_model_dir), *tests]) == 0
    out = capsys.readouterr().out
    assert "tweeteval-sentiment full:" in out and "sentiment140-test full:" in out
    name = tiny_model_dir.name
    assert {p.name for p in (tmp_path / "reports").glob("*.md")} == {f"{name}-tweeteval-sentiment.md",
                                                                      f"{name}-sentiment140-test.md"}
    with pytest.raises(SystemExit, match="one report"):
        main(["evaluate", "--model", str(tiny_model_dir), *tests, "--output", str(tmp_path / "x")])
