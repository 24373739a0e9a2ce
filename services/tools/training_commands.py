"""``badbuzz train``, ``average``, ``export``, ``evaluate`` and ``compare``: a model from data to a measured
ONNX directory. The training libraries (torch, transformers) are imported only when one of these runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from badbuzz.models.serving.preprocessing import CURRENT_VERSION, PREPROCESSORS
from badbuzz.services.cli_args import Subparsers, source_arg
from badbuzz.services.settings import Settings


def register(sub: Subparsers) -> None:
    t = sub.add_parser("train", help="fine-tune an encoder (Sentiment140 by default, or any combination of sets)")
    t.add_argument("--data", type=Path, help="Sentiment140 CSV or folder (default BADBUZZ_DATA)")
    t.add_argument("--task", choices=["sentiment2", "sentiment3", "emotion4"], default="sentiment2")
    t.add_argument("--train", action="append", default=[], metavar="KIND=PATH",
                   help="training set, repeatable: sentiment140, semeval, tse, tweeteval-sentiment, "
                        "tweeteval-emotion, umsab (a folder: every language in it) or csv (text,label columns); "
                        "combined and deduplicated")
    t.add_argument("--eval-every", type=int, default=100)
    t.add_argument("--patience", type=int, default=None, help="stop after N evaluations without improvement")
    t.add_argument("--checkpoint-every", type=int, default=0, help="save resumable state every N steps")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --output")
    t.add_argument("--base-model", help="hub name or local directory (default BADBUZZ_BASE_MODEL)")
    t.add_argument("--output", type=Path, required=True, help="checkpoint directory to write")
    t.add_argument("--max-steps", type=int, default=300)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--max-length", type=int, default=0, help="0: the 95th percentile of the data's token counts")
    t.add_argument("--learning-rate", type=float, default=5e-5)
    t.add_argument("--seed", type=int, default=13)
    t.add_argument("--dev-percent", type=int, default=10,
                   help="share of the (combined) data held out for early stopping and threshold tuning")
    t.add_argument("--max-dev-rows", type=int, default=1000, help="cap on dev rows evaluated (0: all)")
    t.add_argument("--preprocessing", choices=sorted(PREPROCESSORS), default=CURRENT_VERSION,
                   help="tweet normalisation, recorded in the checkpoint and applied again by every scorer "
                        "(tweet-v2 also spells out emoji, which word-piece vocabularies lack)")
    t.add_argument("--freeze-embeddings", action="store_true",
                   help="keep the word embeddings as pretrained (a multilingual encoder keeps its unseen languages "
                        "aligned, and its vocabulary can be trimmed after training)")
    t.add_argument("--max-source-rows", type=int, default=0,
                   help="at most N rows from each --train set, a uniform sample by id hash (0: all)")
    t.add_argument("--dev-source", action="append", default=[], metavar="PREFIX",
                   help="early-stop on dev rows from these sources only (e.g. umsab: the multilingual rows)")
    t.add_argument("--teacher", help="distil: learn this checkpoint's probabilities (models/training/distill.py)")
    t.add_argument("--student-layers", type=int, default=0,
                   help="distil: keep this many of --base-model's layers, evenly spaced (0: all)")
    t.add_argument("--unlabelled", action="append", default=[], metavar="KIND=PATH",
                   help="distil: more training texts, labels ignored, learnt from --teacher's probabilities "
                        "(same kinds as --train)")

    t.set_defaults(run=run_train)

    a = sub.add_parser("average", help="average the weights of same-recipe checkpoints (a model soup) into one")
    a.add_argument("checkpoints", type=Path, nargs="+",
                   help="checkpoints trained on the same data split, or a checkpoint followed by the one it was "
                        "fine-tuned from (its base)")
    a.add_argument("--output", type=Path, required=True, help="checkpoint directory to write")
    a.add_argument("--weights", type=float, nargs="+", help="mixing weights, one per checkpoint (default: equal)")

    a.set_defaults(run=run_average)

    e = sub.add_parser("export", help="checkpoint → validated ONNX model directory")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--output", type=Path, required=True)
    e.add_argument("--no-int8", action="store_true", help="skip the dynamically quantised CPU variant")
    e.add_argument("--no-fp16", action="store_true", help="skip the half-precision GPU variant")
    e.add_argument("--validate-texts", type=int, default=1000, help="dev texts for the parity check (0: skip)")
    e.add_argument("--argmax", action="store_true",
                   help="serve plain argmax instead of decision weights fitted on the dev split")
    e.set_defaults(run=run_export)

    v = sub.add_parser("evaluate", help="evaluate a model directory on a labelled test set (JSON + Markdown)")
    v.add_argument("--model", type=Path, help="model directory (default: the released sentiment model)")
    v.add_argument("--test", action="append", required=True, metavar="KIND=PATH",
                   help="sentiment140-test, tweeteval-sentiment, tweeteval-emotion (folders), tse or csv; "
                        "repeat for several test sets (one report each)")
    v.add_argument("--variant", help="ONNX variant (fp32, int8, fp16); default: the device's choice")
    v.add_argument("--neutral-band", type=float, default=0.1, help="binary model on 3-way data: |p−½| < band")
    v.add_argument("--output", type=Path,
                   help="report path without suffix (default reports/<model>-<test>; one --test only)")
    v.add_argument("--decision", choices=["model", "argmax"], default="model",
                   help="label rule: the model directory's dev-fitted decision weights (as served), or plain argmax")

    v.set_defaults(run=run_evaluate)

    k = sub.add_parser("compare", help="VADER vs TF-IDF+LR vs the fine-tuned transformer, same split, one table")
    k.add_argument("--task", choices=["sentiment2", "sentiment3", "emotion4"], default="sentiment3")
    k.add_argument("--train", action="append", default=[], metavar="KIND=PATH", help="as for `train`")
    k.add_argument("--test", action="append", default=[], metavar="KIND=PATH", help="as for `evaluate`")
    k.add_argument("--model", type=Path, help="the transformer's ONNX model directory")
    k.add_argument("--checkpoint", type=Path, help="the transformer's PyTorch checkpoint")
    k.add_argument("--output", type=Path, default=Path("docs/model-comparison.md"))
    k.add_argument("--dev-percent", type=int,
                   help="held-out share left out of the baselines' training (default: the checkpoint's, else 10)")
    k.set_defaults(run=run_compare)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.models.data import find_sentiment140
    from badbuzz.models.training.base_models import resolve_base_model
    from badbuzz.models.training.train import TASKS, TrainConfig, train

    sources = [source_arg(spec) for spec in args.train]
    data = args.data or settings.data
    if data is None and not sources:
        raise SystemExit("pass --data (Sentiment140) or --train KIND=PATH, or set BADBUZZ_DATA")
    out = train(TrainConfig(
        data=find_sentiment140(data) if data is not None and not sources else None, sources=sources,
        output_dir=args.output, labels=list(TASKS[args.task]),
        base_model=resolve_base_model(args.base_model or settings.base_model),
        max_steps=args.max_steps, batch_size=args.batch_size, max_length=args.max_length or None,
        learning_rate=args.learning_rate, seed=args.seed, eval_every=args.eval_every, patience=args.patience,
        checkpoint_every=args.checkpoint_every, resume=args.resume, dev_percent=args.dev_percent,
        max_dev_rows=args.max_dev_rows, preprocessing=args.preprocessing,
        teacher=args.teacher, student_layers=args.student_layers, freeze_embeddings=args.freeze_embeddings,
        max_source_rows=args.max_source_rows, dev_sources=args.dev_source,
        unlabelled=[source_arg(spec) for spec in args.unlabelled],
    ))
    print(f"checkpoint written to {out}")
    return 0


def run_average(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.models.training.averaging import average_checkpoints
    from badbuzz.models.training.train import require_train_extra

    require_train_extra()
    try:
        res = average_checkpoints(args.checkpoints, args.output, args.weights)
    except ValueError as exc:
        raise SystemExit(f"average: {exc}") from None
    for c in res.components:
        score = c["metrics"].get("dev_macro_recall")
        print(f"{c['checkpoint']}: dev macro recall {score:.4f}" if score is not None
              else f"{c['checkpoint']}: no dev score")
    print(f"average: dev accuracy {res.dev_accuracy:.4f}, macro recall {res.dev_macro_recall:.4f} "
          f"on {res.dev_rows} dev tweets")
    if res.dev_rows_in_a_base:
        print(f"note: {res.dev_rows_in_a_base} of those dev tweets were training rows of a base checkpoint "
              "(scores listed above for a base are on its own dev split)")
    print(f"checkpoint written to {res.output}")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.services.tools.model_setup import export_validated

    out = export_validated(args.checkpoint, args.output, dev_texts=args.validate_texts, int8=not args.no_int8,
                           fp16=not args.no_fp16, fit_decision=not args.argmax)
    print(f"model directory written to {out}")
    return 0


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.models.training.evaluation import evaluate_scorer, load_test, model_dir_scorer, write_reports

    tests = [source_arg(t) for t in args.test]
    if args.output is not None and len(tests) > 1:
        raise SystemExit("evaluate: --output names one report; leave it out to evaluate several --test sets")
    model_dir = args.model or settings.resolved_model_dir
    scorer, labels, model = model_dir_scorer(model_dir, args.variant, settings.onnx_sub_batch)
    weights = model.weights if args.decision == "model" else None
    rule = ("decision weights " + ", ".join(f"{n} {w:.2f}" for n, w in zip(labels, weights, strict=True))
            if weights else "argmax")
    suffix = "-argmax" if args.decision == "argmax" else ""
    for kind, path in tests:
        reports = evaluate_scorer(scorer, labels, load_test(kind, path), neutral_band_width=args.neutral_band,
                                  weights=weights)
        out = args.output or Path("reports") / f"{model_dir.name}-{kind}{suffix}"
        paths = write_reports(reports, out, f"{model.version} on {kind} ({path.name}), {rule}")
        for name, r in reports.items():
            print(f"{kind} {name}: accuracy {r.accuracy:.4f}, macro recall {r.macro_recall:.4f}, "
                  f"F-beta(2) negative {r.fbeta2_negative:.4f}, n={r.n}")
        print(f"reports: {paths[0]} {paths[1]}")
    return 0


def run_compare(args: argparse.Namespace, settings: Settings) -> int:
    from badbuzz.models.training.comparison import compare
    from badbuzz.models.training.train import TASKS, TrainConfig, config_from_checkpoint
    from badbuzz.services.tools.bench import machine

    dev_percent = args.dev_percent
    if dev_percent is None:
        dev_percent = config_from_checkpoint(args.checkpoint).dev_percent if args.checkpoint else 10
    cfg = TrainConfig(data=None, output_dir=Path("."), base_model="", labels=list(TASKS[args.task]),
                      sources=[source_arg(s) for s in args.train], max_dev_rows=0, dev_percent=dev_percent)
    compare(cfg, [source_arg(t) for t in args.test], model_dir=args.model, checkpoint=args.checkpoint,
            output=args.output, machine=machine())
    print(args.output.read_text())
    return 0
