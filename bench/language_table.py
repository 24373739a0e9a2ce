"""Per-language validation table: every model that may score a language, on UMSAB's validation split of it.

    python bench/language_table.py --data ../shared/data [--model DIR ...] [--out docs/languages-table.md]

Macro-F1 with its 95 % bootstrap interval, and negative recall, per language and model: the measurement
behind which model serves which language (models/serving/routing.py) and the model card's per-language figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from badbuzz.models.serving.released import released_model_dir
from badbuzz.models.training.datasets import UMSAB_CODES, UMSAB_LANGUAGES
from badbuzz.models.training.evaluation import evaluate_scorer, load_test, model_dir_scorer


def table(models: list[Path], data: Path) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model_dir in models:
        scorer, labels, model = model_dir_scorer(model_dir, None)
        rows: dict[str, dict[str, float]] = {}
        for lang in UMSAB_LANGUAGES:
            report = evaluate_scorer(scorer, labels, load_test(f"umsab-{lang}", data / "umsab" / lang),
                                     weights=model.weights)["full"]
            lo, hi = report.intervals["macro_f1"]
            rows[UMSAB_CODES[lang]] = {"macro_f1": round(report.macro_f1, 4), "lo": round(lo, 4), "hi": round(hi, 4),
                                       "negative_recall": round(report.per_class["negative"]["recall"], 4)}
        rows["avg"] = {"macro_f1": round(sum(r["macro_f1"] for r in rows.values()) / len(rows), 4)}
        out[f"{model_dir.name} ({model.version})"] = rows
    return out


def markdown(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["| model | language | macro-F1 | 95 % interval | negative recall |", "| --- | --- | ---: | --- | ---: |"]
    for name, rows in results.items():
        for lang, r in rows.items():
            if lang == "avg":
                lines.append(f"| {name} | **average of 8** | **{r['macro_f1']:.3f}** | | |")
            else:
                lines.append(f"| {name} | {lang} | {r['macro_f1']:.3f} | {r['lo']:.3f}–{r['hi']:.3f} | "
                             f"{r['negative_recall']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--model", type=Path, action="append",
                   help="model directories (default: the released English and multilingual ones)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    models = args.model or [d for t in ("sentiment3", "sentiment3-multilingual")
                            if (d := released_model_dir(t)).is_dir()]
    results = table(models, args.data)
    text = markdown(results)
    print(text)
    if args.out:
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
