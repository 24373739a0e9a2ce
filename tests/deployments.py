"""Each shipped deployment rendered into the environment and files it gives a service, as its tool would.

No Docker engine and no Kubernetes cluster run here, so the tests do their part: compose's YAML anchors and
variable interpolation, kustomize's resources and ConfigMap generator, and each container's ``envFrom``,
``env`` (values, ``secretKeyRef``, ``fieldRef``) and mounted files. A service then runs as a local process with
exactly that environment, a mounted file replaced by the host file it would hold.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^${}]*))?\}")


class Missing(Exception):
    pass


# ------------------------------------------------------------------------------------------------ stack
def stack_env() -> dict[str, str]:
    """What ``eval "$(deploy/stack.sh env)"`` exports, evaluated by bash in an environment holding no setting."""
    script = f'eval "$(bash {ROOT / "deploy" / "stack.sh"} env)" && env -0'
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BADBUZZ_")}
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True, timeout=60, env=clean)
    pairs = (item.split("=", 1) for item in out.stdout.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("BADBUZZ_")}


# ---------------------------------------------------------------------------------------------- compose
def interpolate(value: str, env: dict[str, str]) -> str:
    value = value.replace("$$", "\0")
    while (m := VAR.search(value)) is not None:  # innermost first: the pattern has no nested braces
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        have = env.get(name)
        if op in (":?", "?") and (have is None or (op == ":?" and have == "")):
            raise Missing(f"{name}: {arg}")
        if op in (":-", "-") and (have is None or (op == ":-" and have == "")):
            have = arg
        value = value[:m.start()] + (have or "") + value[m.end():]
    return value.replace("\0", "$")


def resolve(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(x, env) for x in node]
    if isinstance(node, dict):
        return {k: resolve(v, env) for k, v in node.items()}
    return node


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def compose_service_env(name: str, dotenv: dict[str, str]) -> dict[str, str]:
    """A compose service's environment, its bind-mounted files mapped back to the host paths they come from."""
    svc = resolve(compose(), dotenv)["services"][name]
    env = {k: str(v) for k, v in svc["environment"].items()}
    mounts = {}
    for volume in svc.get("volumes") or []:
        host, container = str(volume).split(":")[:2]
        if host.startswith((".", "/")):
            mounts[container] = str((ROOT / host).resolve()) if host.startswith(".") else host
    return {k: mounts.get(v, v) for k, v in env.items()}


# ------------------------------------------------------------------------------------------- kubernetes
def k8s_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found = []
    for name in kustomization["resources"]:
        found.extend(doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc)
    for gen in kustomization.get("configMapGenerator") or []:  # kustomize's generated ConfigMaps
        data = {}
        for entry in gen.get("files") or []:
            key, _, path = str(entry).partition("=")
            data[key if path else Path(key).name] = (K8S / (path or key)).read_text()
        found.append({"kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data})
    return found


def k8s_service_env(deployment: str, secrets: dict[str, str], files_dir: Path) -> dict[str, str]:
    """The first container of ``deployment``'s environment; ConfigMap volumes are written under ``files_dir``
    and the paths into them rewritten to those files."""
    docs = k8s_documents()
    config_maps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == deployment)
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        env.update(config_maps[source["configMapRef"]["name"]])
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            if ref["key"] in secrets:
                env[item["name"]] = secrets[ref["key"]]
            elif not ref.get("optional"):
                raise Missing(f"{deployment}: Secret key {ref['key']}")
        elif "fieldRef" in item["valueFrom"]:
            env[item["name"]] = f"{deployment}-0"
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            folder = files_dir / mount["name"]
            folder.mkdir(parents=True, exist_ok=True)
            for key, text in config_maps[volume["configMap"]["name"]].items():
                (folder / key).write_text(text)
                mounts[f"{mount['mountPath'].rstrip('/')}/{key}"] = str(folder / key)
    return {k: mounts.get(v, v) for k, v in env.items()}
