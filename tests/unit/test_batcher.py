from __future__ import annotations

import pytest

from badbuzz.stream.scoring.batcher import MicroBatcher


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_flushes_when_full() -> None:
    b: MicroBatcher[int] = MicroBatcher(3, 10.0, FakeClock())
    assert b.add(1) is None
    assert b.add(2) is None
    assert b.add(3) == [1, 2, 3]
    assert len(b) == 0


def test_flushes_after_max_wait_of_oldest_item() -> None:
    clock = FakeClock()
    b: MicroBatcher[str] = MicroBatcher(100, 0.5, clock)
    assert b.time_until_due() is None
    b.add("a")
    clock.advance(0.3)
    b.add("b")
    assert b.due() is None
    assert b.time_until_due() == pytest.approx(0.2)
    clock.advance(0.2)
    assert b.due() == ["a", "b"]
    assert b.due() is None and b.time_until_due() is None


def test_wait_restarts_with_next_batch() -> None:
    clock = FakeClock()
    b: MicroBatcher[int] = MicroBatcher(2, 1.0, clock)
    b.add(1)
    b.add(2)
    clock.advance(5)
    b.add(3)
    assert b.due() is None
    assert b.time_until_due() == pytest.approx(1.0)


def test_flush_returns_pending_and_empties() -> None:
    b: MicroBatcher[int] = MicroBatcher(10, 1.0, FakeClock())
    assert b.flush() == []
    b.add(7)
    assert b.flush() == [7]
    assert len(b) == 0


@pytest.mark.parametrize(("size", "wait"), [(0, 1.0), (5, -1.0)])
def test_rejects_nonsense_settings(size: int, wait: float) -> None:
    with pytest.raises(ValueError):
        MicroBatcher(size, wait, FakeClock())
