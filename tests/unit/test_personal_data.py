"""Personal data (issue 27): a post its author deleted leaves the store and every alert that quoted it; no
copy of a tweet's text outlives the retention; Redis holds no tweet text at all."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import select, update

from badbuzz.services.alerting.redis_channel import RedisChannel
from badbuzz.services.storage.retention import RetentionPolicy, apply_retention
from badbuzz.services.storage.scores import ScoreStore
from badbuzz.services.storage.tables import AlertRow, ScoredTweetRow, TweetTopicRow
from badbuzz.stream.detection.event import AlertEvent
from badbuzz.stream.scoring.pipeline import ScoringPipeline
from badbuzz.stream.scoring.validation import ValidationLimits, deletion_of
from badbuzz.stream.sources.bluesky import PostFilter, map_event
from badbuzz.stream.sources.sink import ConnectorMetrics, RawSink
from tests.unit.test_pipeline_embedded import EVENT_TIME, msg, parts  # noqa: F401  (fixture)

DID = "did:plc:rfov6bpyztcnedeyyzgfq42k"
# a post deletion as Jetstream sends it (docs: a commit with operation "delete" has no record)
DELETE_EVENT = {"did": DID, "time_us": 1725911162329308, "kind": "commit",
                "commit": {"rev": "3l3qo2vutsw2b", "operation": "delete", "collection": "app.bsky.feed.post",
                           "rkey": "3l3qo2vuowo2b"}}
POST_ID = f"at://{DID}/app.bsky.feed.post/3l3qo2vuowo2b"


def test_a_bluesky_deletion_is_forwarded_whatever_the_filter() -> None:
    mapped = map_event(DELETE_EVENT, PostFilter(keywords=("air paradis",)))
    assert mapped.deleted == POST_ID and mapped.tweet is None and mapped.cursor_us == 1725911162329308
    follow = {**DELETE_EVENT, "commit": {**DELETE_EVENT["commit"], "collection": "app.bsky.graph.follow"}}  # type: ignore[dict-item]
    assert map_event(follow, PostFilter()).deleted is None
    out = io.StringIO()
    RawSink(ConnectorMetrics(CollectorRegistry(), "bluesky"), ValidationLimits(), out=out).put_deletion(POST_ID)
    assert deletion_of(out.getvalue().strip().encode()) == POST_ID
    assert deletion_of(json.dumps({"id": "x", "text": "deleted", "created_at": "2026-01-01"}).encode()) is None
    assert deletion_of(json.dumps({"id": "x", "deleted": True, "text": "smuggled"}).encode()) is None


def quoting_alert(store: ScoreStore, ids: list[str], fired_at: datetime) -> None:
    from badbuzz.services.alerting.store import AlertStore
    from badbuzz.services.storage.tables import DetectorStateRow  # noqa: F401  (the table exists with the schema)
    from badbuzz.stream.detection.detector import TopicState

    event = AlertEvent(f"delays-{fired_at:%Y%m%dT%H%M}", "delays", "firing", fired_at, fired_at - timedelta(minutes=5),
                       fired_at, 0.6, 0.2, 50, 1e-6, examples=[{"id": i, "text": f"text of {i}"} for i in ids])
    AlertStore(store.engine).save_state("delays", TopicState(), fired_at, [event])


def test_a_deleted_post_leaves_the_store_and_the_alerts_that_quoted_it(
        parts: tuple[ScoringPipeline, ScoreStore, CollectorRegistry]) -> None:  # noqa: F811
    pipeline, store, registry = parts
    tweets = [json.dumps({"id": i, "text": f"my flight was late {i}", "created_at": EVENT_TIME.isoformat()}).encode()
              for i in ("keep-1", POST_ID)]
    pipeline.process([msg(n, v) for n, v in enumerate(tweets)])
    quoting_alert(store, ["keep-1", POST_ID], EVENT_TIME)
    deletion = json.dumps({"id": POST_ID, "deleted": True}).encode()
    result = pipeline.process([msg(5, deletion)])
    assert result.dead == 0  # a deletion is not a malformed tweet
    with store.engine.connect() as conn:
        assert set(conn.execute(select(ScoredTweetRow.tweet_id)).scalars()) == {"keep-1"}
        assert POST_ID not in set(conn.execute(select(TweetTopicRow.tweet_id)).scalars())
        (examples,) = conn.execute(select(AlertRow.examples)).one()
    assert [e["id"] for e in examples] == ["keep-1"]
    assert registry.get_sample_value("badbuzz_tweets_deleted_total") == 1


def test_no_copy_of_a_text_outlives_the_retention(parts: tuple[ScoringPipeline, ScoreStore, CollectorRegistry]) -> None:  # noqa: F811
    _, store, _ = parts
    now = datetime(2026, 12, 1, tzinfo=UTC)
    quoting_alert(store, ["old-1"], now - timedelta(days=40))
    quoting_alert(store, ["new-1"], now - timedelta(days=2))
    with store.engine.begin() as conn:  # both resolved long ago enough to be kept as alerts (730 days)
        conn.execute(update(AlertRow).values(state="resolved"))
    done = apply_retention(store.engine, RetentionPolicy(tweets=timedelta(days=30)), now)
    with store.engine.connect() as conn:
        kept = dict(conn.execute(select(AlertRow.fired_at, AlertRow.examples)).all())
    assert done["alert_examples"] == 1 and done["alerts"] == 0
    assert sorted(len(v) for v in kept.values()) == [0, 1]


def test_redis_gets_example_ids_not_texts() -> None:
    class NoRedis:
        def register_script(self, _: str) -> object:
            return None

    event = AlertEvent("delays-1", "delays", "firing", EVENT_TIME, EVENT_TIME, EVENT_TIME, 0.6, 0.2, 50, 1e-6,
                       examples=[{"id": "t1", "text": "my bag is lost, call me on 0612345678", "lang": "en"}])
    payload = RedisChannel(NoRedis()).render(event)
    assert "0612345678" not in payload and json.loads(payload)["examples"] == [{"id": "t1", "lang": "en"}]
