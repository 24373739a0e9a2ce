"""The Grafana dashboards on disk are the generator's output and are well-formed (no servers needed).

Their queries are run against the real Prometheus and PostgreSQL in tests/integration/test_dashboards.py.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dashboards", GRAFANA / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def test_files_on_disk_are_what_the_generator_writes() -> None:
    rendered = generator().render()
    on_disk = {p.name: p.read_text() for p in (GRAFANA / "dashboards").glob("*.json")}
    assert set(on_disk) == set(rendered), "run python deploy/grafana/build_dashboards.py"
    for name, text in rendered.items():
        assert on_disk[name] == text, f"{name} was edited by hand: edit build_dashboards.py and re-run it"


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_dashboard_is_well_formed(name: str) -> None:
    doc = dashboards()[name]
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "datasources.yml").read_text())
    uids = {d["uid"] for d in provisioned["datasources"]}
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in doc["panels"]:
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), f"{p['title']}: refIds {refs}"
        for t in p["targets"]:
            assert t["datasource"]["uid"] in uids
            assert bool(t.get("expr")) != bool(t.get("rawSql")), p["title"]
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
    used = {v["name"] for v in doc["templating"]["list"]}
    text = json.dumps(doc["panels"]) + json.dumps(doc["annotations"])
    for var in ("deployment", "topic"):
        assert (f"${var}" in text) == (var in used), f"${var} used without being defined, or defined unused"


def test_postgres_is_read_through_the_read_only_role() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "datasources.yml").read_text())
    pg = next(d for d in provisioned["datasources"] if d["uid"] == "postgres")
    assert pg["user"] == "badbuzz_reader"
    sql = (GRAFANA.parent / "postgres" / "reader.sql").read_text()
    assert "GRANT pg_read_all_data TO badbuzz_reader" in sql and "default_transaction_read_only = on" in sql
