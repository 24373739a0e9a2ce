"""Recipes: the shipped ones parse and name real data; the runner skips finished steps and resumes training."""

from __future__ import annotations

from pathlib import Path

import pytest

from badbuzz.models.training.recipe import RecipeError, load_recipe, run_recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["sentiment3", "emotion4"])
def test_shipped_recipes_name_existing_data_and_end_in_a_release(name: str, data_dir: Path, tmp_path: Path) -> None:
    recipe = load_recipe(ROOT / "models" / "recipes" / f"{name}.toml")
    # released, then its int8 measured against it (models/serving/quantize.py)
    assert recipe.task == name and [s.args[0] for s in recipe.steps][-2:] == ["release", "quantize"]
    assert recipe.steps[-1].args[1] == f"{{released}}/{name}"
    listed: list[str] = []
    run_recipe(recipe, data=data_dir, runs=tmp_path, run_command=lambda a: 1, dry_run=True, log=listed.append)
    assert len(listed) == len(recipe.steps)
    for step in recipe.steps:
        for arg in step.args:
            if "={data}/" in arg:
                path = Path(arg.split("=", 1)[1].replace("{data}", str(data_dir)))
                assert path.exists(), f"{name}/{step.name} names missing data {path}"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text('name = "demo"\ntask = "sentiment3"\n' + body)
    return path


STEPS = """
[[step]]
name = "stage1"
output = "{work}/stage1"
run = "train --output {work}/stage1 --train x={data}/x.csv"

[[step]]
name = "average"
run = ["average", "{work}/stage1", "--output", "{work}/avg"]
"""


def test_runner_resumes_interrupted_training_and_skips_finished_steps(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, STEPS))
    runs, calls = tmp_path / "runs", []
    state = runs / "demo" / "stage1" / "resume" / "state.pt"

    def failing_average(args: list[str]) -> int:
        calls.append(args)
        if args[0] == "train":
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_bytes(b"checkpoint")
        return 1 if args[0] == "average" else 0

    with pytest.raises(RecipeError, match="step average failed"):
        run_recipe(recipe, data=tmp_path / "d", runs=runs, run_command=failing_average, log=lambda _: None)
    assert calls[0] == ["train", "--output", str(runs / "demo" / "stage1"), "--train", f"x={tmp_path}/d/x.csv"]
    calls.clear()
    ran = run_recipe(recipe, data=tmp_path / "d", runs=runs, run_command=lambda a: calls.append(a) or 0,
                     log=lambda _: None)
    assert ran == ["average"] and calls == [["average", str(runs / "demo" / "stage1"), "--output",
                                             str(runs / "demo" / "avg")]]
    assert run_recipe(recipe, data=tmp_path / "d", runs=runs, run_command=lambda a: 1, log=lambda _: None) == []


def test_an_edited_step_runs_again_and_an_interrupted_train_gets_resume(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "demo" / "stage1" / "resume").mkdir(parents=True)
    (runs / "demo" / "stage1" / "resume" / "state.pt").write_bytes(b"x")
    calls: list[list[str]] = []
    run_recipe(load_recipe(write(tmp_path, STEPS)), data=tmp_path, runs=runs, only="stage1",
               run_command=lambda a: calls.append(a) or 0, log=lambda _: None)
    assert calls[-1][-1] == "--resume"
    run_recipe(load_recipe(write(tmp_path, STEPS.replace("x.csv", "y.csv"))), data=tmp_path, runs=runs,
               only="stage1", run_command=lambda a: calls.append(a) or 0, log=lambda _: None)
    assert len(calls) == 2 and "y.csv" in calls[-1][-2]


def test_a_finished_run_is_adopted_without_retraining(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "demo" / "stage1").mkdir(parents=True)
    (runs / "demo" / "stage1" / "training.json").write_text("{}")
    calls: list[list[str]] = []
    run_recipe(load_recipe(write(tmp_path, STEPS)), data=tmp_path, runs=runs, only="stage1",
               run_command=lambda a: calls.append(a) or 0, log=lambda _: None)
    assert calls == []


@pytest.mark.parametrize("body, message", [
    ("", "at least one step"),
    ('[[step]]\nname = "a"\n', "needs 'name' and 'run'"),
    ('[[step]]\nname = "a"\nrun = "x"\n[[step]]\nname = "a"\nrun = "y"\n', "unique step names"),
    ("[[step]\n", "cannot read recipe"),
])
def test_bad_recipes_are_refused_with_the_reason(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(write(tmp_path, body))
