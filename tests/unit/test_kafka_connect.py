"""A refused SASL login is reported while kafka-python is still retrying its bootstrap, not after it gives up.

The client here is a stand-in for the constructor only (what kafka-python logs and when it returns); the real
broker's refusal is exercised in tests/integration/test_kafka_sasl.py.
"""

from __future__ import annotations

import logging
import threading

import pytest
from kafka.errors import KafkaTimeoutError

from badbuzz.stream.kafka.clients import SASL_DROP, KafkaAuthFailed, KafkaUnavailable, _sasl_outcome, connect
from badbuzz.stream.kafka.security import KafkaSecurity

SASL = KafkaSecurity("SASL_PLAINTEXT", "SCRAM-SHA-512", "badbuzz", "wrong")


class Client:
    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


def test_a_refusal_is_reported_while_the_client_still_retries() -> None:
    release, finished, client = threading.Event(), threading.Event(), Client()

    def make() -> Client:  # what kafka-python does with a wrong password: log, retry until its timeout
        logging.getLogger("kafka.net.manager").error("Bootstrap attempt failed: SaslAuthenticationFailedError")
        release.wait(30)
        finished.set()
        return client

    with pytest.raises(KafkaAuthFailed, match="check BADBUZZ_KAFKA_USERNAME / BADBUZZ_KAFKA_PASSWORD"):
        connect(make, "broker:9094", SASL)
    assert not finished.is_set()  # reported before the constructor returned
    release.set()
    assert client.closed.wait(10)  # the abandoned client is closed once it exists


def test_clients_and_errors_come_back_as_before() -> None:
    client = Client()
    assert connect(lambda: client, "broker:9094", SASL) is client
    assert connect(lambda: client, "broker:9092", KafkaSecurity()) is client
    assert not client.closed.is_set()

    def unreachable() -> Client:
        raise KafkaTimeoutError("bootstrap timed out")

    for security in (SASL, KafkaSecurity()):
        with pytest.raises(KafkaUnavailable, match="no Kafka broker at broker:9092"):
            connect(unreachable, "broker:9092", security)


def test_connections_lost_inside_sasl_count_as_a_refusal_after_three() -> None:
    """The broker's close can win the race against kafka-python reading its error: then only drops show.
    Reported whatever the log level (a user's BADBUZZ_LOG_LEVEL=ERROR must not hide a wrong password)."""
    release, client = threading.Event(), Client()
    kafka_logger = logging.getLogger("kafka")
    level = kafka_logger.level
    kafka_logger.setLevel(logging.CRITICAL)

    def make() -> Client:
        for _ in range(3):
            _sasl_outcome(refused=False)  # what the wrapped SASL step reports for each drop
        release.wait(30)
        return client

    try:
        with pytest.raises(KafkaAuthFailed, match=f"\\({SASL_DROP} 3 times\\)"):
            connect(make, "broker:9094", SASL)
    finally:
        kafka_logger.setLevel(level)
    release.set()
    assert client.closed.wait(10)
    two = Client()

    def hiccup() -> Client:  # two drops, then a success: a broker hiccup, not a refusal
        _sasl_outcome(refused=False)
        _sasl_outcome(refused=False)
        return two

    assert connect(hiccup, "broker:9094", SASL) is two


def test_the_sasl_step_is_wrapped_once() -> None:
    from kafka.net.connection import KafkaConnection

    connect(Client, "broker:9092", KafkaSecurity())
    wrapped = KafkaConnection._sasl_authenticate
    assert getattr(wrapped, "_badbuzz_wrapped", False)
    connect(Client, "broker:9092", KafkaSecurity())
    assert KafkaConnection._sasl_authenticate is wrapped
