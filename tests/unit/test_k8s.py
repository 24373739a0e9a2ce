"""The Kubernetes manifests validate against the Kubernetes API's own schemas and agree with the product.

Validation: ``kubernetes-validate`` (the OpenAPI schemas of each Kubernetes release, bundled in the wheel, so
it works offline), strict mode, so a misspelt field fails. Agreement: every ``BADBUZZ_`` variable set is a
setting the services read, every Secret key used is documented, every container has probes and resource
requests, and the scorer never scales past the partition count.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from badbuzz.services.settings import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
README = Path(__file__).resolve().parents[2] / "README.md"
VERSIONS = ["1.29.0", "1.31.0", "1.33.0"]  # the oldest and newest releases still in common managed use


def resources() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc:
                found.append((name, doc))
    return found


def containers() -> list[tuple[str, dict[str, Any]]]:
    return [(doc["metadata"]["name"], c) for _, doc in resources() if doc["kind"] in ("Deployment", "Job")
            for c in doc["spec"]["template"]["spec"]["containers"]]


def test_every_manifest_is_listed() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    checked = 0
    for name, doc in resources():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} invalid for Kubernetes {version}: "
                        f"{e.message}")
        checked += 1
    assert checked >= 10


def test_the_validator_rejects_a_misspelt_field() -> None:
    _, doc = next(r for r in resources() if r[1]["kind"] == "Deployment")
    doc["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)


def test_every_variable_is_a_setting_and_every_secret_is_documented() -> None:
    fields = {f"BADBUZZ_{name.upper()}" for name in Settings.model_fields}
    config = next(doc for _, doc in resources() if doc["metadata"]["name"] == "badbuzz-config")
    names = set(config["data"])
    secret_keys = set()
    for _, c in containers():
        for e in c.get("env", []):
            names.add(e["name"])
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == "badbuzz-secrets"
                secret_keys.add(ref["key"])
    assert names - fields == set(), "variables no service reads"
    readme = README.read_text()
    for key in secret_keys:
        assert f"--from-literal={key}=" in readme, f"the Secret key {key} is not in README's kubectl command"


@pytest.mark.parametrize("name", ["badbuzz-scorer", "badbuzz-alerter", "badbuzz-api"])
def test_every_container_has_probes_requests_and_runs_unprivileged(name: str) -> None:
    (container,) = [c for n, c in containers() if n == name]
    assert "livenessProbe" in container
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_scorers_scale_on_lag_up_to_the_partition_count_and_alerters_keep_a_standby() -> None:
    docs = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in resources()}
    hpa = docs[("HorizontalPodAutoscaler", "badbuzz-scorer")]["spec"]
    partitions = int(docs[("ConfigMap", "badbuzz-config")]["data"]["BADBUZZ_PARTITIONS"])
    assert hpa["maxReplicas"] == partitions
    assert hpa["metrics"][0]["external"]["metric"]["name"] == "badbuzz_consumer_lag"
    adapter = yaml.safe_load(docs[("ConfigMap", "badbuzz-adapter-rules")]["data"]["config.yaml"])
    assert adapter["externalRules"][0]["name"]["as"] == "badbuzz_consumer_lag"
    assert docs[("Deployment", "badbuzz-alerter")]["spec"]["replicas"] == 2


def test_the_scorer_runs_as_many_onnx_threads_as_the_cpus_it_requests() -> None:
    """Inside a pod the affinity mask shows the node's cores: the ConfigMap sizes the model's lanes instead."""
    docs = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in resources()}
    config = docs[("ConfigMap", "badbuzz-config")]["data"]
    (scorer,) = [c for n, c in containers() if n == "badbuzz-scorer"]
    cpus = float(scorer["resources"]["requests"]["cpu"])
    assert int(config["BADBUZZ_ONNX_LANES"]) * int(config["BADBUZZ_ONNX_THREADS"]) == cpus


def test_the_mounted_topics_are_the_shipped_example_and_every_service_starts_with_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kustomize generates badbuzz-topics from deploy/k8s/topics.json (kustomize reads no file outside its
    folder, hence the copy, kept equal here); each service gets the file and settings that accept it."""
    from badbuzz.stream.scoring.topics import EXAMPLE_TOPICS
    from tests.deployments import k8s_service_env

    assert (K8S / "topics.json").read_text() == EXAMPLE_TOPICS.read_text()
    secrets = {"database-url": "postgresql+psycopg://u:p@db/badbuzz", "redis-url": "redis://:p@r:6379/0",
               "webhook-urls": "", "webhook-secret": "0123456789abcdef0123", "api-keys": ""}
    for name in ("badbuzz-scorer", "badbuzz-alerter", "badbuzz-api"):
        env = k8s_service_env(name, secrets, tmp_path / name)
        for key in [k for k in os.environ if k.startswith("BADBUZZ_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.topics_file is not None and settings.topics_file.is_file(), name
        assert settings.alert_topic_set <= set(settings.topic_matcher().names), name
