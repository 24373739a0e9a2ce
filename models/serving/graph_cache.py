"""Derived graphs kept on disk between starts.

A CPU serves int8 derived from the shipped fp32 graph (:mod:`badbuzz.models.serving.quantize`). Deriving it is
more than half of a scorer's start (8 of 15 s for the English model with its emotion head, measured under a
profiler): a rolling restart or a crash-loop guard pays it every time, with tweets waiting. The derivation is
deterministic for given inputs and a given ONNX Runtime, so its result is kept under a key made of exactly
those: the checksums of every graph that goes into it (already verified at load), the tensors it is cut at,
the quantizer's method and the versions of onnx and ONNX Runtime. Any change makes a new key; nothing is
ever invalidated by hand. The load's probe check still runs on the cached graph, as on a fresh one.

A cache that cannot be written (a read-only home) costs only the time it would have saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cache_key(**parts: Any) -> str:
    """A file-name-safe digest of everything a derived graph depends on."""
    import onnx
    import onnxruntime

    doc = {**parts, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


class GraphCache:
    """Serialized graphs by key, in ``root`` (created on first write). Each model upgrade makes a new key, so
    only the ``keep`` graphs used most recently stay (a read marks a graph used): a graph is 20-60 MB."""

    def __init__(self, root: Path, keep: int = 4) -> None:
        self.root = root
        self.keep = keep

    def get_or_make(self, key: str, make: Callable[[], bytes]) -> bytes:
        path = self.root / f"{key}.onnx"
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        if data:
            try:
                os.utime(path)  # marks it used; a read-only cache (a graph baked into an image) is still read
            except OSError:
                pass
            log.info("derived graph %s read from %s", key, self.root)
            return data
        data = make()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: a reader sees the whole graph or none (replicas may start together)
        except OSError as exc:
            log.warning("could not keep the derived graph in %s (%s): it will be derived again next start",
                        self.root, exc)
        else:
            self._forget_old()
        return data

    def _forget_old(self) -> None:
        """Drop all but the ``keep`` graphs used last; another replica may be dropping the same ones."""
        def used(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:
                return 0.0

        for old in sorted(self.root.glob("*.onnx"), key=used, reverse=True)[self.keep:]:
            try:
                old.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not drop the old derived graph %s: %s", old, exc)
