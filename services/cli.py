"""The ``badbuzz`` command line. Settings are built here, in ``main()``, from ``BADBUZZ_*`` and flags.

Each command is registered by the module that owns it: its ``register(sub)`` adds the command's parser and
sets ``run``, the function ``main`` calls with the parsed arguments and the settings. Only the owner of the
command being run is imported (each pulls in its own stack: ONNX Runtime, Kafka, torch), so ``badbuzz score``
does not pay for the trainer; ``--help`` imports them all to list every command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from badbuzz.services.settings import Settings
from badbuzz.stream.errors import BadBuzzError

# command → the module that registers it (listed once; --help shows them in this order)
COMMANDS: dict[str, str] = {
    "demo": "badbuzz.services.tools.demo",
    "services": "badbuzz.services.service_command",
    "ingest": "badbuzz.services.ingest.command",
    "replay": "badbuzz.services.tools.replayer",
    "backtest": "badbuzz.services.tools.backtest",
    "eval-alerts": "badbuzz.services.tools.eval_alerts",
    "score": "badbuzz.services.tools.score_file",
    "score-file": "badbuzz.services.tools.score_file",
    "bench": "badbuzz.services.tools.bench",
    "db": "badbuzz.services.storage.migrations",
    "api-key": "badbuzz.services.api.auth",
    "train": "badbuzz.services.tools.training_commands",
    "average": "badbuzz.services.tools.training_commands",
    "export": "badbuzz.services.tools.training_commands",
    "evaluate": "badbuzz.services.tools.training_commands",
    "compare": "badbuzz.services.tools.training_commands",
    "recipe": "badbuzz.services.tools.model_commands",
    "release": "badbuzz.services.tools.model_commands",
    "quantize": "badbuzz.services.tools.model_commands",
    "base-encoder": "badbuzz.services.tools.model_commands",
    "model-card": "badbuzz.services.tools.model_commands",
    "train-branch": "badbuzz.services.tools.model_commands",
    "export-branch": "badbuzz.services.tools.model_commands",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: with the command named in it, only its owner's commands; otherwise all."""
    p = argparse.ArgumentParser(prog="badbuzz", description="Bad Buzz Watch: tweet sentiment stream and alerts")
    sub = p.add_subparsers(dest="command", required=True)
    named = next((a for a in argv or () if not a.startswith("-")), None)
    owners = [COMMANDS[named]] if named in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for owner in owners:
        importlib.import_module(owner).register(sub)
    missing = set(sub.choices) ^ {c for c, o in COMMANDS.items() if o in owners}
    if missing:  # a module registering a command the table does not list, or the reverse
        raise AssertionError(f"services/cli.py COMMANDS and the registered commands differ: {sorted(missing)}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"badbuzz: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    # Our loggers at the configured level; libraries (onnxruntime, kafka, faust) only warn.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("badbuzz").setLevel(settings.log_level)
    try:
        return int(args.run(args, settings))
    except (BadBuzzError, FileNotFoundError, ValueError) as exc:
        print(f"badbuzz: error: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:  # the driver's message names host, port and user, never the password
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(f"badbuzz: error: the database does not answer: {first}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `badbuzz replay --to stdout | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
