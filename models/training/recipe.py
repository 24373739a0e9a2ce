"""Recipes: the recorded, resumable sequence of ``badbuzz`` commands that produces a released model.

A recipe is a TOML file (``models/recipes/<task>.toml``), not a shell history: each ``[[step]]`` names a
``badbuzz`` command line with ``{data}`` (the labelled data folder), ``{work}`` (this recipe's work folder),
``{runs}`` (the folder holding every recipe's work folder, for a recipe that starts from another's
checkpoint), ``{released}`` (the released models' folder, for a model built on a released one) and
``{recipe}`` (the file itself) filled in. ``badbuzz recipe run FILE --data D`` runs the
steps in order and can be stopped at any time: a finished step is skipped on the next run (its marker
records the exact command, so an edited step runs again), and an interrupted ``train`` step continues from
its last checkpoint (``--resume``).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from badbuzz.models.errors import BadBuzzError

# resumable commands: (file a finished run leaves, file an interrupted run resumes from) in their output
RESUMABLE = {"train": ("training.json", "resume/state.pt"), "train-branch": ("branch.json", "resume.pt")}


class RecipeError(BadBuzzError):
    """A recipe that cannot be read or a step that failed (the message names the step)."""


@dataclass(frozen=True)
class Step:
    name: str
    args: tuple[str, ...]  # badbuzz arguments, placeholders not yet filled
    output: str = ""  # the folder the step writes ({work}/...), checked for completion
    note: str = ""


@dataclass(frozen=True)
class Recipe:
    name: str
    task: str
    description: str
    steps: tuple[Step, ...]
    path: Path
    requires: tuple[str, ...] = field(default_factory=tuple)


def load_recipe(path: Path) -> Recipe:
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from None
    steps = []
    for i, raw in enumerate(doc.get("step", [])):
        if "name" not in raw or "run" not in raw:
            raise RecipeError(f"{path}: step {i + 1} needs 'name' and 'run'")
        run = raw["run"]
        args = tuple(shlex.split(run) if isinstance(run, str) else run)
        steps.append(Step(raw["name"], args, raw.get("output", ""), raw.get("note", "")))
    names = [s.name for s in steps]
    if not steps or len(set(names)) != len(names):
        raise RecipeError(f"{path}: a recipe needs at least one step and unique step names, got {names}")
    if "name" not in doc or "task" not in doc:
        raise RecipeError(f"{path}: a recipe needs 'name' and 'task'")
    return Recipe(doc["name"], doc["task"], doc.get("description", ""), tuple(steps), Path(path),
                  tuple(doc.get("requires", [])))


def fill(args: Sequence[str], values: dict[str, str]) -> list[str]:
    out = []
    for a in args:
        for key, value in values.items():
            a = a.replace("{" + key + "}", value)
        out.append(a)
    return out


def _fingerprint(args: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(args)).encode()).hexdigest()[:16]


def run_recipe(recipe: Recipe, *, data: Path, runs: Path, run_command: Callable[[list[str]], int],
               only: str | None = None, dry_run: bool = False, log: Callable[[str], None] = print,
               released: Path | None = None) -> list[str]:
    """Run (or with ``dry_run`` list) the steps not yet done; returns the names of the steps run."""
    if released is None:
        from badbuzz.models.serving.released import released_root

        released = released_root()
    work = runs / recipe.name
    values = {"data": str(data), "work": str(work), "runs": str(runs), "recipe": str(recipe.path),
              "released": str(released)}
    done_dir = work / ".done"
    ran = []
    for step in recipe.steps:
        if only and step.name != only:
            continue
        filled = fill(step.args, values)
        args = filled
        marker = done_dir / step.name
        output = Path(fill([step.output], values)[0]) if step.output else None
        if marker.is_file() and marker.read_text().strip() == _fingerprint(args):
            log(f"[recipe {recipe.name}] {step.name}: done")
            continue
        finished, resumable = RESUMABLE.get(args[0], ("", ""))
        if finished and output is not None and (output / finished).is_file():
            log(f"[recipe {recipe.name}] {step.name}: {output} holds a finished run, adopting it")
        else:
            if resumable and output is not None and (output / resumable).is_file():
                args = [*args, "--resume"]
            log(f"[recipe {recipe.name}] {step.name}: badbuzz {shlex.join(args)}")
            if dry_run:
                ran.append(step.name)
                continue
            work.mkdir(parents=True, exist_ok=True)
            rc = run_command(args)
            if rc != 0:
                raise RecipeError(f"recipe {recipe.name}, step {step.name} failed (exit {rc}); fix it and run the "
                                  "recipe again: finished steps are skipped")
        done_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(_fingerprint(filled) + "\n")
        ran.append(step.name)
    return ran
