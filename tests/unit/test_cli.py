"""The command line: each command registered by its owner, and only the owner of the command run imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from badbuzz.services.cli import COMMANDS, build_parser, main


def test_every_listed_command_is_registered_by_its_owner_and_parses() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS)  # type: ignore[attr-defined]
    for name in COMMANDS:  # each one's own parser, through the lazy path as `badbuzz NAME --help` takes it
        with pytest.raises(SystemExit) as done:
            build_parser([name]).parse_args([name, "--help"])
        assert done.value.code == 0


def test_running_one_command_imports_its_owner_only() -> None:
    code = ("import sys; from badbuzz.services.cli import build_parser; build_parser(['api-key', 'crm']); "
            "print(sorted(m for m in ('badbuzz.services.tools.bench', 'badbuzz.services.tools.demo', "
            "'badbuzz.services.scorer', 'badbuzz.services.tools.training_commands', 'onnxruntime', 'torch', 'kafka') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_a_command_runs_through_its_registered_handler(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api-key", "crm", "--role", "write"]) == 0
    out = capsys.readouterr().out
    assert "key (give it to crm" in out and "crm:write:" in out
