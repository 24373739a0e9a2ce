"""ONNX Runtime inference for the scorer: fast tokenizer + length-bucketed batches, no torch.

Texts are preprocessed with the version recorded in the model directory, tokenized in one Rust call,
sorted by length and cut into sub-batches padded only to their own longest sequence: a batch of short
tweets never pays for one long one. On a CPU the sub-batches run side by side, one ONNX Runtime call per core
(*lanes*), rather than one call at a time spread over the cores by ORT's intra-op threads: a small encoder's
operators are too short to split well. On 2 cores, lanes scored 1.18-1.20 x one call at a time on the scorer's
micro-batches of 256 and 1.30-1.67 x on the API's calls of 8 texts from two workers (``bench/lanes.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from badbuzz.models.errors import BadBuzzError
from badbuzz.models.serving.branch_graph import BRANCH_OUTPUT
from badbuzz.models.serving.cores import usable_cores
from badbuzz.models.serving.decision import decide
from badbuzz.models.serving.model_dir import InvalidModelDir, ModelManifest, load_manifest, sha256_of
from badbuzz.models.serving.preprocessing import get_preprocessor
from badbuzz.models.serving.thread_names import name_os_thread

log = logging.getLogger(__name__)


class DeviceUnavailable(BadBuzzError):
    """``device=cuda`` was asked for and ONNX Runtime could not start its CUDA provider."""


# What one more ONNX Runtime call costs on a CPU, in padded tokens: its fixed overhead (feeds, the int8 activations'
# quantisation, thread wake-ups) is about what 16 tokens of encoder work cost (MiniLM int8 on 2 cores: ~0.5 ms a
# call, ~30 µs a token). Measured on batches of 16 random tweets, the cut this gives scored 1.3-1.4 x one padded call
# (bench/length_cut.py, docs/benchmarks.md); on a GPU a call costs far more than a token, and sub-batches are cut at
# max_batch.
CPU_CALL_COST_TOKENS = 16


def cpu_lanes(lanes: int, threads: int) -> int:
    """How many ONNX Runtime calls a CPU model runs at once: ``lanes`` when set, else one per usable core (each
    call on ``threads`` intra-op threads when those are set, else on one); usable counts a container's CPU quota."""
    if lanes > 0:
        return lanes
    return max(1, usable_cores() // max(1, threads))


def length_buckets(lengths: Sequence[int], max_batch: int, call_cost: int = 0) -> list[list[int]]:
    """Indices grouped into sub-batches of similar length, each at most ``max_batch``.

    With ``call_cost`` 0, sorted and cut every ``max_batch``. Otherwise the sorted lengths are cut where the cost
    ``call_cost × calls + Σ rows × longest row`` is least (an exact dynamic programme over the cut points): padding is
    encoder work thrown away, so a few long tweets among short ones get their own call rather than make fifteen
    short ones pad to their length. That matters most for the small batches concurrent API requests form, where a
    fixed cut leaves one call padded to the longest of sixteen random tweets.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if call_cost <= 0:
        return [order[i : i + max_batch] for i in range(0, len(order), max_batch)]
    n = len(order)
    best = [0] * (n + 1)  # best[j]: least cost of the first j sorted rows
    cut = [0] * (n + 1)  # where the last group of the first j rows starts
    for j in range(1, n + 1):
        longest = lengths[order[j - 1]]  # sorted: the group's last row is its longest
        # on a tie the shortest last group wins, then the earliest cut
        i = min([j - 1, *range(max(0, j - max_batch), j - 1)], key=lambda i: best[i] + (j - i) * longest)
        best[j], cut[j] = best[i] + call_cost + (j - i) * longest, i
    groups: list[list[int]] = []
    j = n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]


def gpu_present() -> bool:
    """Whether an NVIDIA device node exists; avoids asking ONNX Runtime for CUDA on machines without one."""
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/version")


GPU_VARIANTS = ("fp16", "fp32")  # fp16 is derived from fp32 at load when the directory ships only fp32


DERIVED_CPU_VARIANTS = ("int8",)  # made from fp32 at load (models/serving/quantize.py) when not shipped


def cpu_variant(manifest: ModelManifest, requested: str | None, *, int8_qualified: bool = False) -> str:
    """The CPU variant: the one asked for (int8 may be derived from fp32), else int8 when the directory ships
    it or its int8 was qualified against fp32 (``badbuzz quantize``), else fp32."""
    if requested:
        derivable = requested in DERIVED_CPU_VARIANTS and "fp32" in manifest.variants
        if requested not in manifest.variants and not derivable:
            raise InvalidModelDir(f"variant {requested!r} not in model directory ({sorted(manifest.variants)})")
        return requested
    if "int8" in manifest.variants or (int8_qualified and "fp32" in manifest.variants):
        return "int8"
    return "fp32"


def int8_qualified(manifest: ModelManifest) -> bool:
    """Whether ``badbuzz quantize`` found this directory's derived int8 within a point of fp32."""
    record = manifest.derived.get("int8")
    return isinstance(record, dict) and record.get("default_on_cpu") is True


def gpu_variant(manifest: ModelManifest, requested: str | None) -> str:
    """The CUDA variant: the one asked for, else fp16 (shipped, or derived from fp32 at load)."""
    if requested:
        if requested not in manifest.variants and not (requested == "fp16" and "fp32" in manifest.variants):
            raise InvalidModelDir(f"variant {requested!r} not in model directory ({sorted(manifest.variants)})")
        return requested
    return "fp16"


def wants_cuda(device: str) -> bool:
    return device == "cuda" or (device == "auto" and gpu_present())


def cuda_provider(device_id: int = 0, mem_limit_mb: int = 0) -> tuple[str, dict[str, Any]]:
    """The CUDA execution provider with its options (device id, arena limit; 0 = no limit)."""
    opts: dict[str, Any] = {"device_id": device_id, "cudnn_conv_algo_search": "HEURISTIC"}
    if mem_limit_mb > 0:
        opts["gpu_mem_limit"] = mem_limit_mb * 1024 * 1024
        opts["arena_extend_strategy"] = "kSameAsRequested"
    return "CUDAExecutionProvider", opts


def fp16_graph(fp32: Path | bytes) -> bytes:
    """An fp16 copy of an fp32 graph for CUDA (weights and activations in half precision, inputs and outputs
    unchanged); made in memory when a directory ships only fp32, so the repository carries one graph."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load_from_string(fp32) if isinstance(fp32, bytes) else onnx.load(str(fp32))
    half = convert_float_to_float16(model, keep_io_types=True)
    data: bytes = half.SerializeToString()
    return data


@dataclass(frozen=True)
class Prediction:
    labels: list[str]
    probabilities: npt.NDArray[np.float32]  # shape (n, n_labels)
    weights: tuple[float, ...] | None = None  # the model directory's decision weights, in label order
    # per text: emotion probabilities (anger, joy, ...) or None where emotion was not run (see scoring.py)
    emotions: list[dict[str, float] | None] | None = None
    emotion_model: str | None = None
    branch_probabilities: npt.NDArray[np.float32] | None = None  # a branch's head, when the model has one

    def decisions(self) -> npt.NDArray[np.int64]:
        """Decided class index per text (the model's decision rule, see :mod:`badbuzz.models.serving.decision`)."""
        return decide(self.probabilities, self.weights)

    def decided_labels(self) -> list[str]:
        return [self.labels[int(i)] for i in self.decisions()]


class NullSession:
    """Stands in for an ``onnxruntime.InferenceSession`` and costs nothing: zero logits (uniform scores) of the
    real output widths for each row fed (see :meth:`OnnxSentimentModel.skip_inference`)."""

    def __init__(self, widths: dict[str, int]) -> None:
        self.widths = widths

    def run(self, names: Sequence[str], feeds: dict[str, npt.NDArray[np.int64]]) -> list[npt.NDArray[np.float32]]:
        rows = len(feeds["input_ids"])
        return [np.zeros((rows, self.widths[name]), dtype=np.float32) for name in names]


class OnnxSentimentModel:
    """A loaded model directory: ``predict(texts)`` → per-class probabilities."""

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        variant: str | None = None,
        threads: int = 0,
        max_batch: int = 64,
        cuda_device_id: int = 0,
        cuda_mem_limit_mb: int = 0,
        bucketing: bool = True,
        branch_dir: Path | None = None,
        spinning: bool = True,
        cache_dir: Path | None = None,
        lanes: int = 0,
        lane_nice: int = 0,
        int8_scheme: str | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        from badbuzz.models.serving.quantize import int8_scheme as recorded_scheme

        self.model_dir = Path(model_dir)
        self.manifest = load_manifest(self.model_dir)  # labels, decision rule, version: this directory's
        # which MatMuls a derived int8 graph keeps in fp32: as qualified (``badbuzz quantize`` passes each it tries)
        self.int8_scheme = int8_scheme or recorded_scheme(self.manifest.derived.get("int8"))
        # A directory with a ``trunk`` is a *head* on another model's encoder (models/training/branch.py): the encoder's
        # graph runs up to the layer the head reads, the rest of it is cut off, and the head answers.
        self.head: Branch | None = None
        self.trunk_dir, self.trunk = self.model_dir, self.manifest
        if self.manifest.trunk:
            from badbuzz.models.serving.released import branch_trunk

            self.trunk_dir = branch_trunk(self.model_dir, self.manifest)
            self.trunk = load_manifest(self.trunk_dir)
            self.head = load_branch(self.model_dir, self.trunk_dir, self.trunk)
        # a second head on this encoder (emotions): its manifest, checked against the encoder's file
        self.branch = load_branch(Path(branch_dir), self.trunk_dir, self.trunk) if branch_dir else None
        self.max_batch = max_batch
        # ONNX Runtime's intra-op threads spin after each run waiting for the next: right for the one model that
        # scores most tweets, wrong for a second model called now and then, whose spinning threads would take
        # the cores from the first (models/serving/routing.py)
        self._spinning = spinning
        # where a derived int8 graph is kept between starts (models/serving/graph_cache.py); None: derived each time
        self._cache_dir = cache_dir
        self._preprocess = get_preprocessor(self.trunk.preprocessing)
        self._tokenizer = Tokenizer.from_file(str(self.trunk_dir / self.trunk.tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.trunk.max_length)
        pad = self._tokenizer.token_to_id("[PAD]")
        self._pad_id = 0 if pad is None else pad
        self._threads = threads
        self.lanes = 1  # ONNX Runtime calls at once: set with the session (a CUDA session runs one at a time)
        self.lane_nice = lane_nice  # the lanes' threads' niceness (see _start_lane)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        self.bucketing = bucketing  # off only to measure what it saves (badbuzz bench)
        self._session: Any = None
        if wants_cuda(device):
            self._session, self.variant = self._cuda_session(variant, cuda_device_id, cuda_mem_limit_mb)
            if self._session is None:
                if device == "cuda":
                    raise DeviceUnavailable(
                        "BADBUZZ_DEVICE=cuda, but ONNX Runtime could not start its CUDA provider (available: "
                        f"{', '.join(self._available_providers())}). Install onnxruntime-gpu with CUDA 12 and "
                        "cuDNN 9 (or use the CUDA image), check that the GPU is visible (nvidia-smi), or set "
                        "BADBUZZ_DEVICE=cpu.")
                log.warning("no working CUDA provider (available: %s): scoring on the CPU",
                            ", ".join(self._available_providers()))
        if self._session is None:
            self.lanes = cpu_lanes(lanes, threads)
            qualified = int8_qualified(self.manifest) and (self.branch is None or int8_qualified(self.branch.manifest))
            self.variant = cpu_variant(self.trunk, variant, int8_qualified=qualified)
            self._session = self._cpu_session(self.variant)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.providers: list[str] = list(self._session.get_providers())
        # a GPU call's overhead dwarfs a tweet's tokens: there, sub-batches are cut at max_batch (0: the fixed cut;
        # bench/length_cut.py sets it to compare the two)
        self.call_cost = CPU_CALL_COST_TOKENS if self.providers[0] == "CPUExecutionProvider" else 0
        if self.variant not in self.trunk.variants and self.variant in DERIVED_CPU_VARIANTS:
            self._check_derived(explicit=variant is not None)

    def _cpu_session(self, variant: str) -> Any:
        if variant in self.trunk.variants:
            return self._open(self._graph(self.trunk.variants[variant]), ["CPUExecutionProvider"])
        from badbuzz.models.serving.quantize import int8_graph

        def derive() -> bytes:
            try:
                return int8_graph(self._graph(self.trunk.variants["fp32"]), self.int8_scheme)
            except Exception as exc:  # the quantizer raises its own errors on graphs it cannot handle
                raise InvalidModelDir(f"cannot derive the int8 variant of {self.model_dir}: {exc}") from exc

        if self._cache_dir is None:
            return self._open(derive(), ["CPUExecutionProvider"])
        from badbuzz.models.serving.graph_cache import GraphCache

        return self._open(GraphCache(self._cache_dir).get_or_make(self._int8_key(), derive), ["CPUExecutionProvider"])

    def _int8_key(self) -> str:
        """What the derived int8 graph depends on: every graph spliced into it (by the checksums the load
        verified), the tensors it is cut at, how weights are stored, and the quantizer's method and scheme."""
        from badbuzz.models.serving.graph_cache import cache_key
        from badbuzz.models.serving.quantize import DEFAULT_SCHEME, METHOD

        def graph_of(directory: Path, manifest: ModelManifest) -> str:
            name = manifest.variants["fp32"]
            return manifest.files.get(name) or sha256_of(directory / name)  # a directory without checksums: hash it

        parts: dict[str, Any] = {"variant": "int8", "method": METHOD, "storage": self.trunk.weight_storage,
                                 "trunk": graph_of(self.trunk_dir, self.trunk)}
        if self.int8_scheme != DEFAULT_SCHEME:  # keys of graphs cached before schemes existed stay valid
            parts["scheme"] = self.int8_scheme
        for name, extra in (("head", self.head), ("branch", self.branch)):
            if extra is not None:
                parts[name] = [graph_of(extra.model_dir, extra.manifest), extra.tensor]
        return cache_key(**parts)

    def _check_derived(self, *, explicit: bool) -> None:
        """Compare this load's int8 graph with the one ``badbuzz quantize`` measured, on its probe texts; serve
        fp32 instead (with a warning) if they differ, unless int8 was asked for by name."""
        from badbuzz.models.serving.quantize import probe_mismatch, probe_probabilities

        if explicit and not isinstance(self.manifest.derived.get(self.variant), dict):
            return  # asked for by name on a directory never qualified: nothing to compare with
        main, branch = probe_probabilities(self)
        checks = [(self.manifest, main)] + ([(self.branch.manifest, branch)] if self.branch else [])
        for manifest, probs in checks:
            rec = manifest.derived.get(self.variant)
            rec = rec if isinstance(rec, dict) else {}
            why = None if probs is None else probe_mismatch(rec, probs)
            if why is None:
                continue
            if explicit:
                log.warning("%s (%s): serving the %s variant as asked", why, manifest.version, self.variant)
                return
            log.warning("%s (%s, onnxruntime %s at qualification): serving fp32 instead of %s", why,
                        manifest.version, rec.get("onnxruntime", "?"), self.variant)
            self.variant = "fp32"
            self._session = self._cpu_session("fp32")
            self._inputs = {i.name for i in self._session.get_inputs()}
            return

    def _graph(self, name: str) -> Path | bytes:
        """The graph to run: the encoder's file, cut below a head and with the head and the branch spliced
        in when there are some (one session, every head)."""
        path = self.trunk_dir / name
        int8_stored = self.trunk.weight_storage == "int8"
        if self.branch is None and self.head is None and not int8_stored:
            return path
        import onnx

        from badbuzz.models.serving.branch_graph import merge_branch, prune
        from badbuzz.models.serving.stored_weights import restore_fp32

        try:
            graph = onnx.load(str(path))
            if int8_stored:  # ORT would dequantize int8-stored weights at every run: restore them once, here
                restore_fp32(graph)
            if self.head is not None:
                graph = prune(graph, sorted({self.head.tensor} | ({self.branch.tensor} if self.branch else set())))
            if self.branch is not None:
                branch = onnx.load(str(self.branch.model_dir / self.branch.manifest.variants["fp32"]))
                graph = merge_branch(graph, branch, self.branch.tensor)
            if self.head is not None:
                head = onnx.load(str(self.head.model_dir / self.head.manifest.variants["fp32"]))
                graph = merge_branch(graph, head, self.head.tensor, prefix="head/", output="logits")
            merged: bytes = graph.SerializeToString()
        except Exception as exc:  # onnx raises its own errors for files it cannot read or join
            raise InvalidModelDir(f"cannot join the heads of {self.model_dir} to {path}: {exc}") from exc
        return merged

    @staticmethod
    def _available_providers() -> list[str]:
        import onnxruntime as ort

        return list(ort.get_available_providers())

    def _open(self, source: Path | bytes, providers: list[Any]) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if self._threads > 0:
            opts.intra_op_num_threads = self._threads
        elif self.lanes > 1:  # each lane is one core's worth of work: no intra-op pool to wake and wait on
            opts.intra_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not self._spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(source if isinstance(source, bytes) else str(source), opts,
                                        providers=providers)
        except Exception as exc:  # ORT raises its own untyped errors for corrupt files
            where = source if isinstance(source, Path) else self.model_dir
            raise InvalidModelDir(f"ONNX Runtime cannot load {where}: {exc}") from exc

    def _cuda_session(self, requested: str | None, device_id: int, mem_limit_mb: int) -> tuple[Any, str]:
        """A session whose first provider really is CUDA, or None: the variant is chosen only once the
        provider is known to work (ORT silently falls back to CPU when CUDA libraries are missing, and an
        fp16 graph on a CPU is slow)."""
        if "CUDAExecutionProvider" not in self._available_providers():
            return None, ""
        variant = gpu_variant(self.trunk, requested)
        if variant in self.trunk.variants:
            source: Path | bytes = self._graph(self.trunk.variants[variant])
        else:
            source = fp16_graph(self._graph(self.trunk.variants["fp32"]))
        session = self._open(source, [cuda_provider(device_id, mem_limit_mb), "CPUExecutionProvider"])
        if session.get_providers()[0] != "CUDAExecutionProvider":
            return None, ""
        return session, variant

    def skip_inference(self) -> None:
        """Benchmarks only (``badbuzz bench --null-model``): keep tokenisation, padding and output shapes, but
        answer every sub-batch with constant logits instead of running the graph, so a pipeline measured with
        this model shows its own ceiling: what a GPU scorer, whose inference is nearly free, would wait on."""
        widths = {"logits": len(self.manifest.labels), BRANCH_OUTPUT: len(self.branch.labels) if self.branch else 0}
        self._session = NullSession(widths)
        self.variant = f"{self.variant}+null"

    def warm_up(self) -> None:
        """One batch of the longest shape before the first real one: CUDA kernels and the CPU arena are set
        up here, not on the first tweets (whose latency would otherwise jump)."""
        self.predict(["warm-up " * (self.trunk.max_length // 2)] * min(self.max_batch, 8))

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    @property
    def weights(self) -> tuple[float, ...] | None:
        return label_weights(self.manifest)

    @property
    def version(self) -> str:
        return f"{self.manifest.version}:{self.variant}"

    @property
    def branch_version(self) -> str | None:
        """The second head's version, with the variant it runs in (the encoder's: one session)."""
        return f"{self.branch.version}:{self.variant}" if self.branch else None

    @property
    def negative_label(self) -> str:
        return self.manifest.negative_label

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, preprocessed and truncated as this model was trained."""
        return [e.ids for e in self._tokenizer.encode_batch([self._preprocess(t) for t in texts])]

    def feeds(self, ids: Sequence[Sequence[int]]) -> dict[str, npt.NDArray[np.int64]]:
        """The session inputs of one sub-batch, padded to its own longest sequence."""
        width = max(len(x) for x in ids)
        arr = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, x in enumerate(ids):
            arr[row, : len(x)] = x
            mask[row, : len(x)] = 1
        feeds = {"input_ids": arr, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(arr)
        return feeds

    def predict(self, texts: Sequence[str]) -> Prediction:
        n_labels = len(self.manifest.labels)
        out = np.zeros((len(texts), n_labels), dtype=np.float32)
        branch = self.branch
        second = np.zeros((len(texts), len(branch.labels) if branch else 0), dtype=np.float32)
        if not texts:
            return Prediction(self.labels, out, self.weights)
        encodings = self.encode(texts)
        lengths = [len(e) for e in encodings]
        chunks = (length_buckets(lengths, self.max_batch, self.call_cost) if self.bucketing else
                  [list(range(i, min(i + self.max_batch, len(texts)))) for i in range(0, len(texts), self.max_batch)])
        names = ["logits", BRANCH_OUTPUT] if branch else ["logits"]

        def run(idx: list[int]) -> list[Any]:
            return list(self._session.run(names, self.feeds([encodings[i] for i in idx])))

        for idx, results in zip(chunks, self._run_all(run, chunks, lengths), strict=True):
            out[idx] = softmax(np.asarray(results[0], dtype=np.float32))
            if branch:
                second[idx] = softmax(np.asarray(results[1], dtype=np.float32))
        if branch is None:
            return Prediction(self.labels, out, self.weights)
        emotions: list[dict[str, float] | None] = [
            {name: float(p) for name, p in zip(branch.labels, row, strict=True)} for row in second]
        return Prediction(self.labels, out, self.weights, emotions=emotions, emotion_model=self.branch_version,
                          branch_probabilities=second)

    def _run_all(self, run: Callable[[list[int]], list[Any]], chunks: list[list[int]], lengths: Sequence[int]
                 ) -> list[list[Any]]:
        """Each sub-batch's outputs, in the order of ``chunks``: one at a time, or side by side in the lanes.

        Every call goes through the one pool of the model, so concurrent callers (the API's batch workers)
        still run at most ``lanes`` calls at once. The costliest sub-batches are queued first, so the lanes
        finish together rather than one waiting on the last long call."""
        if self.lanes <= 1:
            return [run(idx) for idx in chunks]
        pool = self._lanes_pool()
        order = sorted(range(len(chunks)), key=lambda c: -len(chunks[c]) * max(lengths[i] for i in chunks[c]))
        futures = {c: pool.submit(run, chunks[c]) for c in order}
        return [futures[c].result() for c in range(len(chunks))]

    def _lanes_pool(self) -> ThreadPoolExecutor:
        """The one pool of the lanes, made on first use: under a lock, since concurrent first callers (the API's
        batch workers) would each make one and run twice the lanes; made again in a forked child, which has the
        pool but not its threads."""
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="onnx-lane",
                                                initializer=_start_lane, initargs=(self.lane_nice,))
                self._pool_pid = os.getpid()
            return self._pool

    def close(self) -> None:
        """Stop the lanes' threads (they are idle between calls; a process that exits need not call this)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


@dataclass(frozen=True)
class Branch:
    """A loaded branch directory: its manifest and the trunk tensor it reads."""

    model_dir: Path
    manifest: ModelManifest
    tensor: str

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    @property
    def version(self) -> str:
        return self.manifest.version  # the variant is its encoder's (OnnxSentimentModel.branch_version)


def load_branch(branch_dir: Path, trunk_dir: Path, trunk: ModelManifest) -> Branch:
    """Read a branch directory and check it was trained on exactly this trunk file."""
    manifest = load_manifest(branch_dir)
    info = manifest.trunk
    if not info:
        raise InvalidModelDir(f"{branch_dir} is a standalone model, not a branch (it has no 'trunk')")
    want = info.get("sha256")
    name = trunk.variants.get("fp32", "")
    have = trunk.files.get(name) or (sha256_of(trunk_dir / name) if (trunk_dir / name).is_file() else None)
    if want != have:
        raise InvalidModelDir(
            f"the branch {branch_dir} was trained on sentiment model {info.get('version')} (model file "
            f"{str(want)[:12]}…), not on {trunk_dir} ({trunk.version}, {str(have)[:12]}…). Use the sentiment "
            "model it was trained on, a standalone emotion model, or BADBUZZ_EMOTIONS=off.")
    return Branch(branch_dir, manifest, str(info["tensor"]))


def label_weights(manifest: ModelManifest) -> tuple[float, ...] | None:
    """A manifest's decision weights in label order (None: plain argmax)."""
    w = manifest.decision_weights
    return tuple(float(w[label]) for label in manifest.labels) if w else None


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    out: npt.NDArray[np.float32] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def _start_lane(nice: int) -> None:
    """A lane thread's start: its name for ``top -H`` and the benchmarks, and its niceness. Lanes run nothing
    but ONNX Runtime, and with one per core they keep every core busy under load: at the default niceness a
    thread that wakes to answer a request (the API's event loop, a health probe, the scorer's consumer) waits
    for the scheduler to take a core from them. Measured on 2 cores under the API's loads, lanes at nice 10
    cut ``/healthz``'s worst latency from 8-16 ms to 4-10 ms (docs/benchmarks-api.md); throughput is the same,
    since the lanes still get every cycle nothing else wants."""
    name_os_thread()
    if nice > 0 and hasattr(os, "setpriority"):
        try:  # on Linux PRIO_PROCESS with a thread id sets that thread alone; raising it needs no privilege
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError as exc:
            log.warning("cannot lower the ONNX lanes' priority (nice %d): %s", nice, exc)
