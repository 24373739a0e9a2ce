"""What the command modules share: the subparsers type, ``KIND=PATH`` options, history columns, settings updates.

Each command is registered by the module that owns it (its ``register(sub)``, listed in ``services/cli.py``);
the few helpers several of them need live here so that no command module imports another.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TypeAlias

from badbuzz.services.settings import Settings

# what ``add_subparsers()`` returns; argparse names it privately, generic in typeshed only (hence the string)
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def source_arg(spec: str) -> tuple[str, Path]:
    """A ``KIND=PATH`` option (``--train``, ``--test``, ``--unlabelled``)."""
    kind, sep, path = spec.partition("=")
    if not sep or not path:
        raise SystemExit(f"expected KIND=PATH, got {spec!r}")
    return kind, Path(path)


def updated(settings: Settings, **updates: Any) -> Settings:
    """``settings`` with the flags the user gave (None: not given, the setting stands)."""
    return settings.model_copy(update={k: v for k, v in updates.items() if v is not None})


def history_columns(p: argparse.ArgumentParser, *, labels: bool) -> None:
    """The options that say how to read a tweet history file (replay, backtest)."""
    p.add_argument("--format", choices=["auto", "csv", "jsonl", "sentiment140"], default="auto")
    p.add_argument("--text-column", default="text")
    p.add_argument("--time-column", default="created_at", help="ISO 8601, Unix seconds/ms, or Sentiment140 dates")
    p.add_argument("--topic-column", help="topics given with each tweet (comma-separated or a JSON list)")
    p.add_argument("--id-column", default="id")
    if labels:
        p.add_argument("--label-column", help="use these labels (negative/neutral/positive) instead of the model")


def columns(args: argparse.Namespace) -> Any:
    from badbuzz.stream.sources.history import Columns

    return Columns(text=args.text_column, time=args.time_column, topic=args.topic_column,
                   label=getattr(args, "label_column", None), id=args.id_column)
