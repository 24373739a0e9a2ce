"""``badbuzz bench --api-load``: POST /v1/score under concurrent clients, against batched inference only.

Issue 29: a caller that sends one tweet per request (a CRM plug-in, a chatbot, a moderation hook) must get the
machine, not a third of it. The API runs as users run it (``badbuzz services api`` under uvicorn, in its own
process, the served model, emotions off as in the inference-only reference); an asyncio HTTP client on the
same machine (its CPU counted against us) keeps N requests in flight and records each latency, while a side
process asks ``/healthz`` every 100 ms on a connection of its own. The reference, measured in
the same run: the served model on micro-batches of ``batch_max_size``, as ``make bench`` measures it.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from badbuzz.models.data import find_sentiment140
from badbuzz.services.api.auth import new_key
from badbuzz.services.settings import Settings
from badbuzz.services.tools.bench import _inference_only, machine
from badbuzz.services.tools.bench_pipeline import _ticks, free_port
from badbuzz.stream.sources.replay import shuffled_rows

HEADER = ("| clients | texts per request | texts/s | × reference | p50 ms | p99 ms | /healthz p50 / max ms | 503s "
          "| cores: server / client | server cores: lanes / batch workers / event loop / other |\n" + "| ---: " * 10
          + "|")
# (clients, texts per request): the table
SCENARIOS = ((1, 1), (16, 1), (64, 1), (4, 64))
SMALL_CALL = SCENARIOS[1][0]  # the 16-client scenario: no call of it can hold more texts


@dataclass(frozen=True)
class LoadRun:
    clients: int
    texts_per_request: int
    requests: int
    texts_per_s: float
    p50_ms: float
    p99_ms: float
    refused: int  # 503s (queue full)
    healthz_p50_ms: float
    healthz_max_ms: float
    server_cpu_s: float
    client_cpu_s: float
    seconds: float
    server_threads_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per kind of server thread


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process from /proc (Linux), in seconds."""
    return _ticks(Path(f"/proc/{pid}/stat"))


# what each kernel thread name of the API process is (models/serving/thread_names.py names the pools' threads)
THREAD_KINDS = (("onnx-lane", "lanes"), ("badbuzz-score", "batch workers"))
THREAD_COLUMNS = ("lanes", "batch workers", "event loop", "other")


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the API process per kind of thread: the event loop (the main thread, whose id is the
    pid), the batch workers, the ONNX lanes, and the rest (uvicorn's and the libraries' own threads)."""
    out = dict.fromkeys(THREAD_COLUMNS, 0.0)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        kind = "event loop" if task.name == str(pid) else next(
            (k for prefix, k in THREAD_KINDS if comm.startswith(prefix)), "other")
        out[kind] += _ticks(task / "stat")  # 0 for a thread that ended since
    return out


async def _load(url: str, key: str, texts: list[str], clients: int, per_request: int, seconds: float,
                ) -> tuple[list[float], int, int, list[float], float]:
    """(latencies in s, texts scored, 503s, /healthz latencies, wall seconds) of ``clients`` closed loops.
    aiohttp (faust's own HTTP stack) rather than httpx: at 64 clients httpx took a whole core of the two
    and the client, not the server, set the pace."""
    import aiohttp

    headers = {"authorization": f"Bearer {key}"}
    latencies: list[float] = []
    scored = refused = 0
    stop_at = float("inf")  # set once the probe is up, so the clients' window and ``wall`` share one start
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(url, connector=connector, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:
        async def client(i: int) -> None:
            nonlocal scored, refused
            at = i * 997
            while time.perf_counter() < stop_at:
                chunk = [texts[(at + j) % len(texts)] for j in range(per_request)]
                at += per_request * clients
                body = {"text": chunk[0]} if per_request == 1 else {"texts": chunk}
                started = time.perf_counter()
                async with http.post("/v1/score", json=body) as r:
                    await r.read()
                    if r.status == 503:
                        refused += 1
                        await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                        continue
                    r.raise_for_status()
                latencies.append(time.perf_counter() - started)
                scored += per_request

        probe = _start_probe(url, seconds)
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(*(client(i) for i in range(clients)))
        wall = time.perf_counter() - began
        out, _ = probe.communicate(timeout=30)  # the clients are done: nothing left on this loop to block
        if probe.returncode != 0:
            raise RuntimeError(f"the /healthz probe failed (exit {probe.returncode}): see its message above")
        health = [float(x) for x in out.split()]
    return latencies, scored, refused, health, wall


# A probe in a process of its own, on its own connection: in the load's event loop its latency was mostly the
# client's (a burst of 64 answers handled before the probe's), not the server's.
PROBE = """
import http.client, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conn, stop_at = http.client.HTTPConnection(host, port, timeout=30), time.perf_counter() + seconds
while time.perf_counter() < stop_at:
    started = time.perf_counter()
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit(f"/healthz answered {r.status}")
    print(time.perf_counter() - started, flush=True)
    time.sleep(0.1)
"""


def _start_probe(url: str, seconds: float) -> subprocess.Popen[str]:
    """``/healthz`` every 100 ms for ``seconds``; its latencies in seconds, one a line, on its standard output."""
    from urllib.parse import urlsplit

    where = urlsplit(url)
    return subprocess.Popen([sys.executable, "-c", PROBE, where.hostname or "127.0.0.1", str(where.port),
                             str(seconds)], stdout=subprocess.PIPE, text=True)


def _start_api(settings: Settings, key_entry: str, port: int, home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BADBUZZ_API_KEYS": key_entry, "BADBUZZ_API_PORT": str(port),
           "BADBUZZ_API_HOST": "127.0.0.1", "BADBUZZ_EMOTIONS": "off", "BADBUZZ_KAFKA_BOOTSTRAP": "",
           "BADBUZZ_DATABASE_URL": f"sqlite:///{home / 'api.db'}", "BADBUZZ_HOME": str(home),
           "BADBUZZ_MODEL_DIR": str(settings.resolved_model_dir), "BADBUZZ_PROMETHEUS_TARGETS": ""}
    command = "import sys; from badbuzz.services.cli import main; sys.exit(main(['services', 'api']))"
    return subprocess.Popen([sys.executable, "-c", command], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _wait_ready(url: str, key: str, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the API exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:  # one score loads the model (and warms it)
            r = httpx.post(f"{url}/v1/score", json={"texts": ["warm up", "the model"]},
                           headers={"authorization": f"Bearer {key}"}, timeout=60)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the API did not answer in time")


def run_api_load(settings: Settings, *, tweets: int, seconds: float, output: Path) -> list[LoadRun]:
    if settings.data is None:
        raise SystemExit("pass --data or set BADBUZZ_DATA")
    texts = [r.text for r in shuffled_rows(find_sentiment140(settings.data), seed=11, limit=tweets)]
    plain = settings.model_copy(update={"emotions": "off"})
    reference = max((_inference_only(plain, texts) for _ in range(2)), key=lambda r: r.tps)
    # the most 16 one-text clients can get: each keeps one request in flight, so the calls in flight at once (one
    # per batch worker) hold 16 texts between them
    ceiling = max(_calls_in_flight(plain, texts, SMALL_CALL, settings.api_batch_workers) for _ in range(2))
    key, entry = new_key("bench", "read")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runs: list[LoadRun] = []
    with tempfile.TemporaryDirectory() as tmp:
        proc = _start_api(settings, entry, port, Path(tmp))
        try:
            _wait_ready(url, key, proc)
            for clients, per_request in SCENARIOS:
                server0, client0, threads0 = _cpu_seconds(proc.pid), time.process_time(), _thread_cpu(proc.pid)
                lat, scored, refused, health, wall = asyncio.run(
                    _load(url, key, texts, clients, per_request, seconds))
                runs.append(LoadRun(clients, per_request, len(lat), scored / wall, 1000 * _percentile(lat, 0.5),
                                    1000 * _percentile(lat, 0.99), refused, 1000 * statistics.median(health),
                                    1000 * max(health), _cpu_seconds(proc.pid) - server0,
                                    time.process_time() - client0, wall, {
                                        k: v - threads0.get(k, 0.0) for k, v in _thread_cpu(proc.pid).items()}))
                print(json.dumps(asdict(runs[-1])), flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    _write(runs, reference.tps, ceiling, reference.version, settings, seconds, output)
    return runs


def _calls_in_flight(settings: Settings, texts: list[str], in_flight: int, workers: int) -> float:
    """Texts/s of the served model called as the API's batch workers call it, with no HTTP: ``workers`` callers at
    once, each with its share of ``in_flight`` texts per call."""
    from badbuzz.services.scorer import load_model
    from badbuzz.services.tools.bench_inference import scoring_rate

    return scoring_rate(load_model(settings).predict, texts, max(1, -(-in_flight // max(1, workers))), workers)


def _write(runs: list[LoadRun], reference_tps: float, ceiling_tps: float, version: str, settings: Settings,
           seconds: float, output: Path) -> None:
    rows = "\n".join(
        f"| {r.clients} | {r.texts_per_request} | {r.texts_per_s:,.0f} | {r.texts_per_s / reference_tps:.2f} × | "
        f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.healthz_p50_ms:.1f} / {r.healthz_max_ms:.1f} | {r.refused} | "
        f"{r.server_cpu_s / r.seconds:.2f} / {r.client_cpu_s / r.seconds:.2f} | "
        + " / ".join(f"{r.server_threads_s.get(k, 0.0) / r.seconds:.2f}" for k in THREAD_COLUMNS) + " |" for r in runs)
    text = f"""# API load: dynamic batching of POST /v1/score

Command: `badbuzz bench --api-load --data <Sentiment140> --seconds {seconds:g}` ({time.strftime('%Y-%m-%d %H:%M')}
UTC; {machine()}). Model `{version}`, emotions off. The API runs as `badbuzz services api` (uvicorn, one
process); the load comes from an asyncio HTTP client on the same machine, each client keeping one request in
flight, for {seconds:g} s per row; `/healthz` is asked every 100 ms meanwhile, by a process of its own.

Reference, same run: the served model on micro-batches of {settings.batch_max_size}, no HTTP, **{reference_tps:,.0f}
texts/s** (`make bench`'s inference-only row). The same tweets with no HTTP, {SMALL_CALL} texts in flight
as {SMALL_CALL} one-text clients can form them ({settings.api_batch_workers} call(s) at once, \
{-(-SMALL_CALL // max(1, settings.api_batch_workers))} texts each): **{ceiling_tps:,.0f} texts/s,
{ceiling_tps / reference_tps:.2f} × the reference**, the ceiling of the {SMALL_CALL}-client row. Batching: up to
{settings.api_batch_max_texts} texts per call, {settings.api_batch_workers} call(s) at once, an idle server waits
{settings.api_batch_max_wait_ms:g} ms for company, queue bound {settings.api_queue_max_texts} texts (then 503 with
Retry-After).

The server's cores are split by kind of thread from `/proc/<pid>/task` (models/serving/thread_names.py names
them): the lanes run ONNX Runtime; the batch workers detect languages, tokenise and build the answers; the
event loop parses, checks keys and answers HTTP.

{HEADER}
{rows}
"""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
