"""``badbuzz recipe``, ``release`` and ``model-card``: how a released model is made, replaced and described."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from badbuzz.services.settings import Settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("recipe", help="reproduce a released model from the labelled data (resumable)")
    r.add_argument("action", choices=["run", "show"], help="run: do the steps not yet done; show: list them")
    r.add_argument("recipe", type=Path, help="recipe file, e.g. models/recipes/sentiment3.toml")
    r.add_argument("--data", type=Path, help="labelled data folder (default BADBUZZ_DATA)")
    r.add_argument("--runs", type=Path, default=Path("artifacts/recipes"), help="where work folders go")
    r.add_argument("--step", help="run only this step")

    e = sub.add_parser("release", help="make an exported model directory the released model of its task")
    e.add_argument("model_dir", type=Path, help="exported directory (`badbuzz export`)")
    e.add_argument("--task", required=True, choices=["sentiment3", "emotion4"])
    e.add_argument("--checkpoint", type=Path, required=True,
                   help="the checkpoint it was exported from (its dev tweets measure parity and speed)")
    e.add_argument("--output", type=Path, help="default: models/released/TASK")
    e.add_argument("--recipe", default="", help="the recipe file that produced it (recorded in the manifest)")
    e.add_argument("--test", action="append", default=[], metavar="KIND=PATH",
                   help="test sets to evaluate the release on; metrics and intervals go into the manifest")
    e.add_argument("--parity-texts", type=int, default=2000)

    c = sub.add_parser("model-card", help="write docs/model-card.md from the released manifests")
    c.add_argument("--output", type=Path, default=Path("docs/model-card.md"))


def dispatch(args: argparse.Namespace, settings: Settings, run_command: Callable[[list[str]], int]) -> int:
    if args.command == "recipe":
        from badbuzz.models.recipe import load_recipe, run_recipe

        recipe = load_recipe(args.recipe)
        data = args.data or settings.data
        if data is None:
            raise SystemExit("recipe: pass --data (the folder with the labelled sets) or set BADBUZZ_DATA")
        run_recipe(recipe, data=data.resolve(), runs=args.runs.resolve(), run_command=run_command,
                   only=args.step, dry_run=args.action == "show")
        return 0
    if args.command == "release":
        return _release(args)
    if args.command == "model-card":
        from badbuzz.export.model_card import write_model_card

        print(f"model card written to {write_model_card(args.output)}")
        return 0
    raise AssertionError(args.command)


def _release(args: argparse.Namespace) -> int:
    from badbuzz.export.release import record_test_metrics, release, released_model_dir
    from badbuzz.models.evaluation import evaluate_scorer, load_test, model_dir_scorer
    from badbuzz.models.train import config_from_checkpoint, load_examples, require_train_extra

    require_train_extra()
    _, dev = load_examples(config_from_checkpoint(args.checkpoint))
    target = args.output or released_model_dir(args.task)
    report = release(args.model_dir, target, task=args.task, texts=[e.text for e in dev[: args.parity_texts]],
                     recipe=str(args.recipe), checkpoint=str(args.checkpoint))
    print(f"released {target}: {report.total_bytes:,} bytes "
          + ", ".join(f"{n} {s:,}" for n, s in report.files.items()))
    print(f"fp16-stored weights vs the source: max |Δp| {report.max_abs_diff:.1e}, label agreement "
          f"{report.label_agreement:.2%} on {report.parity_texts} dev tweets; {report.tweets_per_second} tweets/s")
    results = {}
    if args.test:
        scorer, labels, model = model_dir_scorer(target, None)  # loaded (and checksummed) once for every set
    for spec in args.test:
        kind, _, path = spec.partition("=")
        reports = evaluate_scorer(scorer, labels, load_test(kind, Path(path)), weights=model.weights)
        results[kind] = {name: r.as_dict() for name, r in reports.items()}
        for name, r in reports.items():
            print(f"{kind} {name}: accuracy {r.accuracy:.4f}, macro recall {r.macro_recall:.4f}, "
                  f"macro F1 {r.macro_f1:.4f}, n={r.n}")
    if results:
        record_test_metrics(target, results)
    return 0
