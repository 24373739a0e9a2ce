"""Conservation on the real Kafka and PostgreSQL: every message ends as one stored row or one dead letter.

A poison corpus (tests/poison.py) mixed into good tweets, and a Hypothesis fuzz of generated messages,
both through a real ``badbuzz services scorer`` process; the scorer must never restart because of input.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import (
    ON_EVERY_ENGINE,
    ScorerProcess,
    Stack,
    Topics,
    dead_letters,
    produce_tracked,
    wait_for_ends,
)
from tests.poison import duplicate_pair, poison_corpus

pytestmark = pytest.mark.integration


@ON_EVERY_ENGINE
def test_poison_corpus_among_good_tweets(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess]
) -> None:
    now = datetime.now(UTC)
    corpus = poison_corpus("p-", now) + duplicate_pair("p-", now)
    good = [json.dumps({"id": f"p-good{i}", "text": f"flight {i}: so late", "created_at": now.isoformat()}).encode()
            for i in range(300)]
    values: list[bytes] = []
    expected: list[str] = []
    for i, g in enumerate(good):
        values.append(g)
        expected.append("stored")
        if i % 8 == 0 and i // 8 < len(corpus):
            values.append(corpus[i // 8][1])
            expected.append(corpus[i // 8][2])
    assert len(values) == len(good) + len(corpus)
    scorer = scorer_factory()
    produced = produce_tracked(stack.kafka, topics.raw, values)
    result = wait_for_ends(stack, topics, database, produced, scorer)
    print(result.line(f"poison corpus ({len(corpus)} kinds) among {len(good)} good tweets"))
    assert not result.lost and not result.doubled
    dead = dead_letters(stack.kafka, topics.dlq, result.dead)
    outcome = {o: dead[o][0] if o in dead else "stored" for o in produced}
    # the duplicate pair may land on two partitions (no key), so either copy may be the one stored first
    pair = [o for o, kind in zip(produced, expected, strict=True) if kind == "duplicate_id"]
    pair += [produced[values.index(duplicate_pair("p-", now)[0][1])]]
    assert sorted(outcome[o] for o in pair) == ["duplicate_id", "stored"]
    mismatched = [(corpus_kind, outcome[o]) for o, corpus_kind in zip(produced, expected, strict=True)
                  if outcome[o] != corpus_kind and o not in pair]
    assert mismatched == []
    assert result.stored == expected.count("stored")
    assert scorer.proc is not None and scorer.proc.poll() is None, "the scorer died on input"
    assert "Traceback" not in scorer.tail()


_text = st.text(st.characters(codec=None, categories=None), max_size=300)
_junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _text,
                  st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def raw_message(draw: st.DrawFn, run: str) -> bytes:
    """Mostly tweet-shaped JSON with hostile field values; sometimes arbitrary bytes or JSON of the wrong shape."""
    shape = draw(st.sampled_from(["tweet"] * 6 + ["bytes", "json"]))
    if shape == "bytes":
        return draw(st.binary(max_size=200))
    if shape == "json":
        return json.dumps(draw(_junk)).encode()
    now = datetime.now(UTC)

    def mostly(good: st.SearchStrategy[object], bad: st.SearchStrategy[object]) -> object:
        return draw(st.one_of(good, good, good, bad))

    doc: dict[str, object] = {
        # ids are unique (or invalid), so each stored row points back at exactly one message
        "id": mostly(st.builds(lambda: f"{run}-{uuid.uuid4().hex}"), st.sampled_from([None, "", True, 1.5, "x" * 70])),
        "text": mostly(st.text(min_size=1, max_size=280), st.one_of(_text, _junk)),
        "created_at": mostly(st.integers(-600, 9).map(lambda m: (now + timedelta(minutes=m)).isoformat()),
                             st.one_of(st.integers(-2**40, 2**40), _junk)),
    }
    for key, good in (("user", st.text(max_size=30)), ("lang", st.sampled_from(["en", "fr", "pt-BR", "und"])),
                      ("topics", st.lists(st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True), max_size=5))):
        if draw(st.booleans()):
            doc[key] = mostly(good, st.one_of(_text, _junk, st.lists(st.text(max_size=70), max_size=40)))
    try:
        return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", errors="surrogatepass")
    except ValueError:
        return json.dumps(doc).encode()


@pytest.mark.slow
def test_fuzzed_messages_are_conserved(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess]
) -> None:
    """Hypothesis generates batches of hostile messages (≥ 2,000 in all); each batch is produced as generated,
    then conservation is checked over all of them, naming the messages that were lost or doubled."""
    scorer = scorer_factory(BADBUZZ_BATCH_MAX_SIZE="64")
    run = uuid.uuid4().hex[:6]
    sent: dict[tuple[int, int], bytes] = {}

    @settings(max_examples=50, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(raw_message(run), min_size=40, max_size=60))
    def produce_generated(values: list[bytes]) -> None:
        sent.update(zip(produce_tracked(stack.kafka, topics.raw, values), values, strict=True))

    produce_generated()
    # a connector that replays: the same tweet twice ends as one stored row (the generator repeats ids too,
    # at random; this pair makes the case certain)
    again = json.dumps({"id": f"replayed-{run}", "text": "delayed again", "created_at": datetime.now(UTC).isoformat()})
    sent.update(zip(produce_tracked(stack.kafka, topics.raw, [again.encode()] * 2), [again.encode()] * 2, strict=True))
    produced = list(sent)
    result = wait_for_ends(stack, topics, database, produced, scorer, timeout_s=240, sent=sent)
    print(result.line("Hypothesis fuzz"))
    assert len(produced) >= 2000
    assert not result.lost and not result.doubled, [sent[o][:200] for o in result.lost + result.doubled][:5]
    assert 0 < result.stored < result.produced  # the generator really mixes good and bad messages
    assert scorer.proc is not None and scorer.proc.poll() is None, "the scorer died on input"
