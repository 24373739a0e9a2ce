"""Consumer lag measured from the broker, on a timer of its own.

Lag measured only after a batch (as it used to be) freezes exactly when it matters: a scorer stuck on an
outage processes no batch, so its lag gauge stood still and no alert could fire. This monitor runs as a job
of the process's scheduler (stream/periodic.py), off the event loop: it asks the broker for each owned
partition's end offset and the group's committed offset, and drops the gauges of partitions that moved to
another replica, so ``sum(badbuzz_consumer_lag)`` over the replicas is the group's real backlog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from badbuzz.stream.scoring.metrics import ScorerMetrics

log = logging.getLogger(__name__)


class LagMonitor:
    def __init__(self, bootstrap: str, group: str, metrics: ScorerMetrics, *,
                 client_options: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.metrics = metrics
        self.client_options = client_options or {}
        self._owned: frozenset[tuple[str, int]] = frozenset()
        self._shown: set[tuple[str, int]] = set()
        self._consumer: Any = None
        self._admin: Any = None

    def assign(self, partitions: Iterable[tuple[str, int]]) -> None:
        """The partitions this replica owns now (called on every rebalance)."""
        self._owned = frozenset(partitions)

    def measure_once(self) -> dict[tuple[str, int], int]:
        """Lag per owned partition: end offset minus the group's committed offset."""
        from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

        owned = self._owned
        for gone in self._shown - owned:
            self.metrics.consumer_lag.remove(gone[0], str(gone[1]))
        self._shown &= owned
        if not owned:
            return {}
        if self._consumer is None:
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                           client_id="badbuzz-lag", **self.client_options)
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="badbuzz-lag-admin",
                                           **self.client_options)
        tps = [TopicPartition(t, p) for t, p in sorted(owned)]
        ends = self._consumer.end_offsets(tps)
        starts = self._consumer.beginning_offsets(tps)
        committed = self._admin.list_group_offsets({self.group: tps}).get(self.group, {})
        lags: dict[tuple[str, int], int] = {}
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else starts.get(tp, 0)
            lags[(tp.topic, tp.partition)] = max(0, int(ends[tp]) - int(done))
        for (topic, partition), lag in lags.items():
            if (topic, partition) in self._owned:  # a rebalance may have happened meanwhile
                self.metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)
                self._shown.add((topic, partition))
        self.metrics.lag_checked.set(time.time())
        return lags

    def tick(self) -> None:
        """One measurement for the scheduler (stream/periodic.py); a broker that is down is logged, not raised:
        the checked-at gauge ages, which is itself the signal."""
        try:
            self.measure_once()
        except Exception as exc:
            log.warning("consumer lag not measured: %s", exc)
            self._close_clients()

    def close(self) -> None:
        self._close_clients()

    def _close_clients(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                try:
                    client.close()
                except Exception:
                    pass
        self._consumer = self._admin = None
