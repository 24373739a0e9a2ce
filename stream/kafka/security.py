"""How every Kafka client of Bad Buzz Watch authenticates and encrypts: one object, two client libraries.

kafka-python (producers, admin, the lag monitor, readiness checks) and faust/aiokafka (the scorer's
consumer group) spell the same settings differently; :class:`KafkaSecurity` is built once from the settings
and hands each library its own spelling, so no client can be left on plaintext by accident. SASL
mechanisms: SCRAM-SHA-512 (the default), SCRAM-SHA-256, PLAIN (only over TLS); TLS with a CA file and,
optionally, a client certificate (mutual TLS).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: Protocol = "PLAINTEXT"
    mechanism: Mechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if self.sasl and not (self.username and self.password):
            raise ValueError(f"Kafka {self.protocol} needs BADBUZZ_KAFKA_USERNAME and BADBUZZ_KAFKA_PASSWORD")
        if self.protocol == "SASL_PLAINTEXT" and self.mechanism == "PLAIN":
            raise ValueError("SASL PLAIN without TLS sends the password in clear: use SASL_SSL")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a Kafka client certificate needs both BADBUZZ_KAFKA_CERT_FILE and BADBUZZ_KAFKA_KEY_FILE")
        for path in (self.ca_file, self.cert_file, self.key_file):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"Kafka TLS file not found: {path}")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the broker against ``ca_file`` (else the system's CAs), hostname included."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
        opts: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            opts["ssl_context"] = self.ssl_context()
        if self.sasl:
            opts.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                        sasl_plain_password=self.password)
        return opts

    def faust_credentials(self) -> Any:
        """``broker_credentials`` for faust.App (None for PLAINTEXT)."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(username=self.username, password=self.password, mechanism=self.mechanism,
                                         ssl_context=self.ssl_context() if self.tls else None)
        if self.tls:
            return faust.SSLCredentials(self.ssl_context())
        return None
