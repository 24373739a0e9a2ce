"""Fine-tune a Hugging Face encoder for tweet sentiment (needs ``pip install badbuzz[train]``).

A plain PyTorch loop rather than ``Trainer``: bounded steps, a tqdm bar, periodic dev evaluation, a
training-curve PNG, and a checkpoint directory (model + tokenizer + ``training.json``) that
``badbuzz export`` turns into an ONNX model directory.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from badbuzz.models.data import data_hash, iter_sentiment140, stable_bucket
from badbuzz.models.serving.preprocessing import CURRENT_VERSION, get_preprocessor

TRAINING_META = "training.json"


def require_train_extra() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"training needs the [train] extra: pip install 'badbuzz[train]' ({exc})") from None


TASKS = {
    "sentiment2": ["negative", "positive"],
    "sentiment3": ["negative", "neutral", "positive"],
    "emotion4": ["anger", "joy", "optimism", "sadness"],
}
SOURCE_KINDS = ("sentiment140", "semeval", "tse", "tweeteval-sentiment", "tweeteval-emotion", "umsab", "csv")


@dataclass
class TrainConfig:
    data: Path | None
    output_dir: Path
    base_model: str
    labels: list[str] = field(default_factory=lambda: list(TASKS["sentiment2"]))
    sources: list[tuple[str, Path]] = field(default_factory=list)
    max_steps: int = 300
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.06
    max_length: int | None = 64
    dev_percent: int = 10
    max_train_rows: int | None = None
    max_dev_rows: int = 1000  # 0: every dev row
    eval_every: int = 100
    patience: int | None = None
    checkpoint_every: int = 0
    resume: bool = False
    seed: int = 13
    threads: int = 0
    preprocessing: str = CURRENT_VERSION
    # keep the word embeddings as pretrained: a multilingual encoder fine-tuned on a few languages then keeps
    # every other word where pretraining put it (aligned across languages), and the vocabulary can be trimmed
    # after training without changing what the kept pieces mean
    freeze_embeddings: bool = False
    # distillation (models/training/distill.py): a student with fewer layers learns the teacher's probabilities
    teacher: str | None = None  # checkpoint whose soft labels the student learns
    student_layers: int = 0  # > 0: keep this many of the base model's layers, evenly spaced
    distill_alpha: float = 0.8  # weight of the soft-label loss (1 − alpha: the gold labels)
    distill_temperature: float = 2.0
    # texts whose labels are ignored: with a teacher, the student learns its probabilities on them too
    # (an emotion teacher has 3k labelled tweets but can label a hundred thousand more)
    unlabelled: list[tuple[str, Path]] = field(default_factory=list)
    # at most this many rows from each --train source (0: all): a 47k-tweet English set beside 1,800 tweets
    # per language would otherwise turn a multilingual run into an English one
    max_source_rows: int = 0
    # keep only dev rows whose source starts with one of these (empty: all): early stopping then picks the
    # weights best for the languages the model is for, not for the largest helper set
    dev_sources: list[str] = field(default_factory=list)


@dataclass
class Example:
    text: str
    label: int  # UNLABELLED: a text only the teacher's probabilities train on
    source: str = ""  # which training file it came from (decision weights are fitted per source kind)


UNLABELLED = -1


def load_examples(cfg: TrainConfig) -> tuple[list[Example], list[Example]]:
    """Train and dev examples, split by a stable hash (of the tweet id for Sentiment140 alone, of the
    normalised text when sets are combined), labels outside the task dropped."""
    preprocess = get_preprocessor(cfg.preprocessing)
    index = {name: i for i, name in enumerate(cfg.labels)}
    train: list[Example] = []
    dev: list[Example] = []
    if cfg.sources:
        from badbuzz.models.training.datasets import capped, combine, split

        sets = (capped(_source(kind, path), cfg.max_source_rows) for kind, path in cfg.sources)
        parts = split(combine(*sets, labels=cfg.labels), dev_percent=cfg.dev_percent)
        train = [Example(preprocess(e.text), index[e.label], e.source) for e in parts["train"]]
        dev = [Example(preprocess(e.text), index[e.label], e.source) for e in parts["dev"]
               if not cfg.dev_sources or e.source.startswith(tuple(cfg.dev_sources))]
    else:
        if cfg.data is None:
            raise ValueError("TrainConfig needs data or sources")
        for row in iter_sentiment140(cfg.data):
            if row.label not in index:
                continue
            ex = Example(preprocess(row.text), index[row.label])
            (dev if stable_bucket(row.id) < cfg.dev_percent else train).append(ex)
    if cfg.unlabelled:
        train += unlabelled_examples(cfg, {normalised_text(e.text) for e in train + dev}, preprocess)
    rng = random.Random(cfg.seed)
    rng.shuffle(train)
    rng.shuffle(dev)
    if cfg.max_train_rows:
        train = train[: cfg.max_train_rows]
    return train, dev[: cfg.max_dev_rows or None]


def normalised_text(text: str) -> str:
    from badbuzz.models.training.datasets import normalised

    return normalised(text)


def unlabelled_examples(cfg: TrainConfig, taken: set[str], preprocess: Any) -> list[Example]:
    """Texts of the ``unlabelled`` sources (their labels, if any, ignored), minus any text already among the
    labelled rows (so no dev tweet comes back as a training text) and minus repeats."""
    if cfg.teacher is None:
        raise ValueError("unlabelled training texts need a teacher (--teacher) to learn from")
    out: list[Example] = []
    seen = set(taken)
    for kind, path in cfg.unlabelled:
        for ex in _source(kind, path):
            text = preprocess(ex.text)
            key = normalised_text(text)
            if key and key not in seen:
                seen.add(key)
                out.append(Example(text, UNLABELLED, f"unlabelled:{ex.source}"))
    return out


def _source(kind: str, path: Path) -> Any:
    from badbuzz.models.training import datasets

    if kind == "sentiment140":
        return datasets.sentiment140(path)
    if kind == "semeval":
        return datasets.semeval(path)
    if kind == "tse":
        return datasets.tweet_sentiment_extraction(path)
    if kind in {"tweeteval-sentiment", "tweeteval-emotion"}:
        return datasets.tweeteval(path, "train")
    if kind == "umsab":
        return datasets.umsab(path, "train")
    if kind == "csv":
        return datasets.csv_texts(path, label_column="label")
    raise ValueError(f"unknown training source {kind!r}; known: {', '.join(SOURCE_KINDS)}")


def config_from_checkpoint(checkpoint: Path) -> TrainConfig:
    """The configuration a checkpoint was trained with (to rebuild its dev split for validation; its
    unlabelled texts, never in dev, are left out)."""
    meta = json.loads((Path(checkpoint) / TRAINING_META).read_text())
    c = meta["config"]
    return TrainConfig(
        data=Path(c["data"]) if c.get("data") else None, output_dir=Path(checkpoint), base_model=str(checkpoint),
        labels=list(meta["labels"]), sources=[(k, Path(p)) for k, p in c.get("sources", [])],
        dev_percent=int(c.get("dev_percent", 10)), max_dev_rows=int(c.get("max_dev_rows", 1000)),
        seed=int(c.get("seed", 13)), preprocessing=str(meta.get("preprocessing", CURRENT_VERSION)),
        max_source_rows=int(c.get("max_source_rows", 0)), dev_sources=list(c.get("dev_sources", [])),
    )


def length_from_data(tokenizer: Any, texts: list[str], quantile: float = 0.95, cap: int = 128) -> int:
    """Sequence length covering ``quantile`` of the training tweets (padding beyond it is wasted compute)."""
    sample = texts[:5000]
    if not sample:
        return 64
    lengths = sorted(len(ids) for ids in tokenizer(sample, truncation=False)["input_ids"])
    return min(cap, max(16, lengths[min(len(lengths) - 1, int(quantile * len(lengths)))]))


def train(cfg: TrainConfig) -> Path:
    """Train and save a checkpoint directory (best dev weights); returns it.

    Epochs over a shuffled training set; dev evaluation every ``eval_every`` steps keeps the best weights
    and stops early after ``patience`` evaluations without improvement; with ``checkpoint_every`` the full
    training state is saved so ``resume=True`` continues an interrupted run where it stopped.
    """
    require_train_extra()
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_set, dev_set = load_examples(cfg)
    if not train_set:
        raise SystemExit(f"no training rows with labels {cfg.labels}")
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model)
    max_length = cfg.max_length or length_from_data(tokenizer, [e.text for e in train_set])
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg.base_model,
        num_labels=len(cfg.labels),
        id2label=dict(enumerate(cfg.labels)),
        label2id={name: i for i, name in enumerate(cfg.labels)},
        ignore_mismatched_sizes=True,
    ).to(device)
    if cfg.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate,
                                  weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, math.ceil(cfg.max_steps * cfg.warmup_ratio), cfg.max_steps
    )
    use_amp = device.type == "cuda"
    if cfg.student_layers:
        from badbuzz.models.training.distill import keep_layers

        kept = keep_layers(model, cfg.student_layers)
        print(f"[badbuzz] student: layers {kept} of {cfg.base_model}")
    teacher = None
    if cfg.teacher:
        from badbuzz.models.training.distill import load_teacher

        teacher = load_teacher(cfg.teacher, cfg.labels, device)
    accepted = model_inputs(model)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    resume_file = out / "resume" / "state.pt"
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, Any] | None] = (-1.0, None)
    start_step, stale = 1, 0
    order_rng = random.Random(cfg.seed)
    order: list[int] = []
    if cfg.resume and resume_file.is_file():
        state = torch.load(resume_file, map_location=device, weights_only=False)
        saved = state.get("preprocessing", "tweet-v1")
        if saved != cfg.preprocessing:
            raise ValueError(f"{resume_file} was trained with preprocessing {saved!r}, not {cfg.preprocessing!r}; "
                             "resume with the same --preprocessing or start a new run")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, best, stale = state["history"], state["best"], state["stale"]
        order, start_step = state["order"], state["step"] + 1
        order_rng.setstate(state["order_rng"])
        print(f"[badbuzz] resuming {out} at step {start_step}")
    started = time.perf_counter()
    model.train()
    bar = tqdm(range(start_step, cfg.max_steps + 1), desc="train", unit="step", initial=start_step - 1,
               total=cfg.max_steps)
    lengths = [len(e.text) for e in train_set]
    for step in bar:
        if len(order) < cfg.batch_size:
            order += length_grouped_order(lengths, cfg.batch_size, order_rng)
        batch = [train_set[i] for i in order[: cfg.batch_size]]
        del order[: cfg.batch_size]
        enc = tokenizer(
            [e.text for e in batch], truncation=True, max_length=max_length, padding=True, return_tensors="pt",
        ).to(device)
        enc = {k: v for k, v in enc.items() if k in accepted}
        labels = torch.tensor([e.label for e in batch], device=device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            if teacher is None:
                loss = model(**enc, labels=labels).loss
            else:
                from badbuzz.models.training.distill import distillation_loss

                loss = distillation_loss(model(**enc).logits, teacher(**enc).logits, labels,
                                         alpha=cfg.distill_alpha, temperature=cfg.distill_temperature)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        point: dict[str, float] = {"step": step, "loss": float(loss.item())}
        stop = False
        if dev_set and (step % cfg.eval_every == 0 or step == cfg.max_steps):
            acc, macro_recall = evaluate(model, tokenizer, dev_set, max_length, device, len(cfg.labels))
            point.update(dev_accuracy=acc, dev_macro_recall=macro_recall)
            bar.write(f"step {step}: dev accuracy {acc:.4f}, macro recall {macro_recall:.4f}")
            if macro_recall > best[0]:
                best = (macro_recall, {k: v.detach().clone() for k, v in model.state_dict().items()})
                stale = 0
            else:
                stale += 1
                stop = cfg.patience is not None and stale >= cfg.patience
        history.append(point)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            resume_file.parent.mkdir(exist_ok=True)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "history": history, "best": best, "stale": stale,
                        "order": order, "order_rng": order_rng.getstate(), "step": step,
                        "preprocessing": cfg.preprocessing}, resume_file)
        if stop:
            bar.write(f"early stop at step {step}: no dev improvement in {cfg.patience} evaluations")
            break
    bar.close()
    if best[1] is not None:
        model.load_state_dict(best[1])
    train_seconds = time.perf_counter() - started
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    evals = [p for p in history if "dev_accuracy" in p]
    best_point = max(evals, key=lambda p: p["dev_macro_recall"]) if evals else {}
    files = [p for _, p in cfg.sources] or ([cfg.data] if cfg.data else [])
    meta: dict[str, Any] = {
        "config": {k: _jsonable(v) for k, v in asdict(cfg).items()},
        "labels": cfg.labels,
        "max_length": max_length,
        "preprocessing": cfg.preprocessing,
        "data_hash": data_hash(files),
        "train_rows": len(train_set),
        "dev_rows": len(dev_set),
        "train_seconds": round(train_seconds, 1),
        "best_step": best_point.get("step"),
        "metrics": {"dev_accuracy": best_point.get("dev_accuracy"),
                    "dev_macro_recall": best_point.get("dev_macro_recall")},
        "history": history,
    }
    (out / TRAINING_META).write_text(json.dumps(meta, indent=2))
    plot_history(history, out / "training_curve.png")
    return out


def length_grouped_order(lengths: list[int], batch_size: int, rng: random.Random, window: int = 50) -> list[int]:
    """One epoch's example order, cut into consecutive batches of similar length.

    Batches are padded to their longest tweet, so random batches of tweets (5 to 60 tokens) spend much of
    their compute on padding. The epoch is shuffled, split into windows of ``window`` batches, each window
    sorted by length and cut into batches, and the batches shuffled: still a random order of batches, with
    little padding. ``len(lengths) % batch_size`` random examples sit this epoch out, so every batch is full
    and the flat order stays aligned with ``batch_size`` across epochs.
    """
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    idx = idx[len(idx) % batch_size :] if len(idx) >= batch_size else idx
    span = batch_size * window
    batches: list[list[int]] = []
    for start in range(0, len(idx), span):
        part = sorted(idx[start : start + span], key=lengths.__getitem__)
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return [i for batch in batches for i in batch]


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def model_inputs(model: Any) -> set[str]:
    """Names the model's forward accepts: a BERT tokenizer's token_type_ids must not reach DistilBERT."""
    import inspect

    return set(inspect.signature(model.forward).parameters)


def evaluate(model: Any, tokenizer: Any, dev: list[Example], max_length: int, device: Any,
             n_labels: int) -> tuple[float, float]:
    """(accuracy, macro-averaged recall) on the dev set; macro recall picks the best weights (TweetEval's
    metric, and not fooled by a majority class)."""
    import torch

    model.eval()
    hits = [0] * n_labels
    totals = [0] * n_labels
    with torch.no_grad():
        for i in range(0, len(dev), 128):
            chunk = dev[i : i + 128]
            enc = tokenizer(
                [e.text for e in chunk], truncation=True, max_length=max_length, padding=True,
                return_tensors="pt",
            ).to(device)
            enc = {k: v for k, v in enc.items() if k in model_inputs(model)}
            pred = model(**enc).logits.argmax(-1).tolist()
            for p, e in zip(pred, chunk, strict=True):
                totals[e.label] += 1
                hits[e.label] += int(p == e.label)
    model.train()
    recalls = [h / t for h, t in zip(hits, totals, strict=True) if t]
    return sum(hits) / max(1, sum(totals)), sum(recalls) / max(1, len(recalls))


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    """Loss per step (smoothed) and dev accuracy: a person reads a curve faster than a log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [p["step"] for p in history]
    losses = [p["loss"] for p in history]
    window = max(1, len(losses) // 30)
    smooth = [sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1])
              for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(steps, losses, alpha=0.25, label="loss")
    ax.plot(steps, smooth, label=f"loss (mean of {window})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    evals = [(p["step"], p["dev_accuracy"]) for p in history if "dev_accuracy" in p]
    if evals:
        ax2 = ax.twinx()
        ax2.plot([s for s, _ in evals], [a for _, a in evals], "o-", color="tab:green", label="dev accuracy")
        ax2.set_ylabel("dev accuracy")
        ax2.legend(loc="lower right")
    ax.legend(loc="upper right")
    ax.set_title("Training curve")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
