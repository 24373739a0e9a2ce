"""Where the released models live and how a head finds the encoder it runs on: what serving needs of a
release (``export/release.py`` makes releases; serving never imports it)."""

from __future__ import annotations

from pathlib import Path

from badbuzz.models.serving.model_dir import ModelManifest

TASKS = ("sentiment3", "sentiment3-fast", "emotion4", "sentiment3-multilingual")


def released_root() -> Path:
    """``models/serving/released`` of this installation: the repository's folder in an editable install (the
    package file is a link into the checkout), the package data in a regular one."""
    import badbuzz.models

    return Path(badbuzz.models.__file__).resolve().parent / "released"


def released_model_dir(task: str) -> Path:
    if task not in TASKS:
        raise ValueError(f"no released model for task {task!r}; tasks: {', '.join(TASKS)}")
    return released_root() / task


def branch_trunk(model_dir: Path, manifest: ModelManifest) -> Path:
    """The trunk directory a branch names, relative to the branch's own directory."""
    where = Path(str(manifest.trunk.get("dir", "")))
    return where if where.is_absolute() else (Path(model_dir) / where)
