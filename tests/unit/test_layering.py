"""The packages' dependencies run one way (models ← stream, models ← export, all ← services), and the
running services (scorer, API, alerter) import neither the export tools nor training (torch, the trainers)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(folder: Path) -> dict[str, set[str]]:
    """badbuzz modules each file imports, at module level or inside functions."""
    out: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("badbuzz."):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("badbuzz.")}
        out[str(path.relative_to(ROOT))] = found
    return out


# which packages each may import: models is the base, stream and export build on it, services wires them all
ALLOWED = {"models": set(), "stream": {"models"}, "export": {"models"}, "services": {"models", "stream", "export"}}


def test_the_packages_import_each_other_one_way_only() -> None:
    offenders = {}
    for package, allowed in ALLOWED.items():
        for f, mods in imported_modules(ROOT / package).items():
            wrong = sorted(m for m in mods if m.split(".")[1] not in allowed | {package})
            if wrong:
                offenders[f] = wrong
    assert not offenders


# within the packages, the roles whose job forbids a neighbour: detection is pure (no Kafka, no model, no store),
# serving never needs training, the database layer knows the records' contracts but not where they come from
ROLE_FORBIDS = {
    "stream/detection": ("badbuzz.stream.kafka", "badbuzz.stream.scoring", "badbuzz.stream.sources",
                         "badbuzz.stream.simulation", "badbuzz.models", "badbuzz.services"),
    "models/serving": ("badbuzz.models.training",),
    "services/storage": ("badbuzz.stream.kafka", "badbuzz.stream.scoring", "badbuzz.stream.sources",
                         "badbuzz.services.alerting", "badbuzz.services.api", "badbuzz.services.tools"),
    "stream/sources": ("badbuzz.stream.kafka", "badbuzz.stream.detection"),
    "stream/kafka": ("badbuzz.stream.sources", "badbuzz.stream.detection", "badbuzz.services"),
}


def test_each_role_imports_only_what_its_job_needs() -> None:
    offenders = {f: sorted(m for m in mods if m.startswith(ROLE_FORBIDS[role]))
                 for role in ROLE_FORBIDS for f, mods in imported_modules(ROOT / role).items()}
    assert not {f: mods for f, mods in offenders.items() if mods}


def test_the_running_services_load_neither_training_nor_the_export_tools() -> None:
    code = ("import sys\n"
            "import badbuzz.services.scorer, badbuzz.services.api.app, badbuzz.services.alerting.runner\n"
            "from badbuzz.services.scorer import load_model\n"
            "from badbuzz.services.settings import Settings\n"
            "load_model(Settings(), warm_up=False)\n"
            "print(sorted(m for m in sys.modules if m in ('torch', 'transformers', 'sklearn')"
            " or m.startswith(('badbuzz.export', 'badbuzz.models.training'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip().splitlines()[-1] == "[]", out


def test_the_settings_default_base_model_is_the_trainers() -> None:
    from badbuzz.models.training import base_models
    from badbuzz.services import settings

    assert settings.DEFAULT_BASE_MODEL == base_models.DEFAULT_BASE_MODEL
