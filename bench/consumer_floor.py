"""What consuming alone costs on each scorer engine: a consumer that does nothing with its messages.

Why: the null-model scorer (``badbuzz bench --null-model``) spent ~130 µs of CPU a tweet in faust's event loop,
more than any of its own stages. This isolates that cost from the scorer: the same messages on the same broker,
read once by a faust agent with ``stream.take_events(256, within=0.2)`` (how the scorer's agent batches) and once
by kafka-python's ``poll`` with a commit per batch (stream/kafka/batch_consumer.py), each in its own process,
CPU from ``getrusage`` between the first batch and the last.

    eval "$(bash deploy/stack.sh env)"; python bench/consumer_floor.py --messages 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid

BATCH = 256
VALUE = json.dumps({"id": "x", "text": "a" * 100, "created_at": "2026-12-07T10:00:00+00:00"}).encode()


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def produce(bootstrap: str, topic: str, n: int) -> None:
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 4, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024)
    for i in range(n):
        producer.send(topic, key=str(i).encode(), value=VALUE)
    producer.flush()
    producer.close()


def report(engine: str, n: int, started: tuple[float, float]) -> None:
    wall, used = time.perf_counter() - started[0], cpu() - started[1]
    print(json.dumps({"engine": engine, "messages": n, "per_s": round(n / wall), "cpu_us": round(used / n * 1e6, 1)}),
          flush=True)


def kafka_python(bootstrap: str, topic: str, n: int) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"floor-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=BATCH,
                             fetch_max_bytes=8 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024)
    seen, started = 0, None
    while seen < n:
        fetched = consumer.poll(timeout_ms=500, max_records=BATCH)
        if fetched and started is None:
            started = (time.perf_counter(), cpu())
        seen += sum(len(r) for r in fetched.values())
        if fetched:
            consumer.commit()
    assert started is not None
    report("kafka-python", n, started)
    consumer.close()


def faust_agent(bootstrap: str, topic: str, n: int) -> None:
    import faust

    app = faust.App(f"floor-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}", web_enabled=False,
                    datadir=f"/tmp/badbuzz-floor-{os.getpid()}", consumer_auto_offset_reset="earliest",
                    broker_commit_interval=1.0, topic_partitions=4, stream_wait_empty=False)
    raw = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                    partitions=4)
    state: dict[str, object] = {"seen": 0, "started": None}

    @app.agent(raw)  # type: ignore[untyped-decorator]
    async def count(stream):  # type: ignore[no-untyped-def]
        async for events in stream.take_events(BATCH, within=0.2):
            if state["started"] is None:
                state["started"] = (time.perf_counter(), cpu())
            state["seen"] = int(state["seen"]) + len(events)  # type: ignore[call-overload]
            if int(state["seen"]) >= n:  # type: ignore[call-overload]
                report("faust", n, state["started"])  # type: ignore[arg-type]
                os._exit(0)
            yield None

    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    worker.spinner = None  # as the scorer runs it (services/scorer.py: make_worker)
    worker.execute_from_commandline()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--engine", choices=["faust", "kafka-python"], help=argparse.SUPPRESS)  # a child run
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bootstrap = os.environ.get("BADBUZZ_KAFKA_BOOTSTRAP")
    if not bootstrap:
        raise SystemExit('set BADBUZZ_KAFKA_BOOTSTRAP (eval "$(bash deploy/stack.sh env)")')
    if args.engine:
        (faust_agent if args.engine == "faust" else kafka_python)(bootstrap, args.topic, args.messages)
        return
    topic = f"floor-{uuid.uuid4().hex[:8]}"
    produce(bootstrap, topic, args.messages)
    results = {}
    for engine in ("faust", "kafka-python"):
        out = subprocess.run([sys.executable, __file__, "--engine", engine, "--topic", topic, "--messages",
                              str(args.messages)], capture_output=True, text=True, timeout=900)
        line = next((x for x in out.stdout.splitlines() if x.startswith("{")), None)
        if line is None:
            raise SystemExit(f"{engine} run failed:\n{out.stderr[-2000:]}")
        results[engine] = json.loads(line)
    print("| consumer (does nothing with its messages) | messages/s | CPU µs a message |")
    print("| --- | ---: | ---: |")
    for engine, r in results.items():
        print(f"| {engine} | {r['per_s']:,} | {r['cpu_us']} |")
    ratio = results["faust"]["cpu_us"] / max(1e-9, results["kafka-python"]["cpu_us"])
    print(f"\nfaust spends {ratio:.1f} × kafka-python's CPU a message ({args.messages:,} messages, 4 partitions)")


if __name__ == "__main__":
    main()
