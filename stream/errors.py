"""The streaming stages' errors, under the one root every Bad Buzz Watch error has (models/errors.py)."""

from badbuzz.models.errors import BadBuzzError

__all__ = ["BadBuzzError", "InvalidMessage", "SinkError", "StoreUnavailable"]


class InvalidMessage(BadBuzzError):
    """A message that can never be scored: it goes to the dead-letter topic with this reason.

    ``kind`` is a short stable category (for metrics labels); the message text is for humans.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class StoreUnavailable(BadBuzzError):
    """The durable store refused a batch after retries: backpressure, offsets must not be committed."""


class SinkError(BadBuzzError):
    """A sink could not make its records durable (e.g. the broker did not acknowledge a send): the batch
    is not done, offsets must not be committed, and the batch's delivery is retried."""
