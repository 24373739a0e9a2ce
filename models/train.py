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
from badbuzz.models.preprocessing import CURRENT_VERSION, get_preprocessor

TRAINING_META = "training.json"


def require_train_extra() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"training needs the [train] extra: pip install 'badbuzz[train]' ({exc})") from None


@dataclass
class TrainConfig:
    data: Path
    output_dir: Path
    base_model: str
    labels: list[str] = field(default_factory=lambda: ["negative", "positive"])
    max_steps: int = 300
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.06
    max_length: int = 64
    dev_percent: int = 10
    max_train_rows: int | None = None
    max_dev_rows: int = 1000
    eval_every: int = 100
    seed: int = 13
    threads: int = 0


@dataclass
class Example:
    text: str
    label: int


def load_examples(cfg: TrainConfig) -> tuple[list[Example], list[Example]]:
    """Split by a hash of the tweet id (stable across runs and file orders); drop labels not in the set."""
    preprocess = get_preprocessor(CURRENT_VERSION)
    index = {name: i for i, name in enumerate(cfg.labels)}
    train: list[Example] = []
    dev: list[Example] = []
    for row in iter_sentiment140(cfg.data):
        if row.label not in index:
            continue
        ex = Example(preprocess(row.text), index[row.label])
        (dev if stable_bucket(row.id) < cfg.dev_percent else train).append(ex)
    rng = random.Random(cfg.seed)
    rng.shuffle(train)
    rng.shuffle(dev)
    if cfg.max_train_rows:
        train = train[: cfg.max_train_rows]
    return train, dev[: cfg.max_dev_rows]


def train(cfg: TrainConfig) -> Path:
    """Train and save a checkpoint directory; returns it."""
    require_train_extra()
    import torch
    from tqdm.auto import tqdm
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_set, dev_set = load_examples(cfg)
    if not train_set:
        raise SystemExit(f"no training rows with labels {cfg.labels} in {cfg.data}")
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model)
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg.base_model,
        num_labels=len(cfg.labels),
        id2label=dict(enumerate(cfg.labels)),
        label2id={name: i for i, name in enumerate(cfg.labels)},
    ).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, math.ceil(cfg.max_steps * cfg.warmup_ratio), cfg.max_steps
    )
    use_amp = device.type == "cuda"
    accepted = model_inputs(model)
    history: list[dict[str, float]] = []
    rng = random.Random(cfg.seed)
    started = time.perf_counter()
    model.train()
    bar = tqdm(range(1, cfg.max_steps + 1), desc="train", unit="step")
    for step in bar:
        batch = rng.sample(train_set, min(cfg.batch_size, len(train_set)))
        enc = tokenizer(
            [e.text for e in batch], truncation=True, max_length=cfg.max_length, padding=True,
            return_tensors="pt",
        ).to(device)
        enc = {k: v for k, v in enc.items() if k in accepted}
        labels = torch.tensor([e.label for e in batch], device=device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = model(**enc, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        point: dict[str, float] = {"step": step, "loss": float(loss.item())}
        if dev_set and (step % cfg.eval_every == 0 or step == cfg.max_steps):
            point["dev_accuracy"] = evaluate(model, tokenizer, dev_set, cfg, device)
            bar.write(f"step {step}: dev accuracy {point['dev_accuracy']:.4f}")
        history.append(point)
    train_seconds = time.perf_counter() - started
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta: dict[str, Any] = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "labels": cfg.labels,
        "max_length": cfg.max_length,
        "preprocessing": CURRENT_VERSION,
        "data_hash": data_hash([cfg.data]),
        "train_rows": len(train_set),
        "dev_rows": len(dev_set),
        "train_seconds": round(train_seconds, 1),
        "metrics": {"dev_accuracy": history[-1].get("dev_accuracy")},
        "history": history,
    }
    (out / TRAINING_META).write_text(json.dumps(meta, indent=2))
    plot_history(history, out / "training_curve.png")
    return out


def model_inputs(model: Any) -> set[str]:
    """Names the model's forward accepts: a BERT tokenizer's token_type_ids must not reach DistilBERT."""
    import inspect

    return set(inspect.signature(model.forward).parameters)


def evaluate(model: Any, tokenizer: Any, dev: list[Example], cfg: TrainConfig, device: Any) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(dev), 128):
            chunk = dev[i : i + 128]
            enc = tokenizer(
                [e.text for e in chunk], truncation=True, max_length=cfg.max_length, padding=True,
                return_tensors="pt",
            ).to(device)
            enc = {k: v for k, v in enc.items() if k in model_inputs(model)}
            pred = model(**enc).logits.argmax(-1).tolist()
            correct += sum(int(p == e.label) for p, e in zip(pred, chunk, strict=True))
    model.train()
    return correct / len(dev)


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
