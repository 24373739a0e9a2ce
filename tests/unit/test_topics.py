from __future__ import annotations

import pytest

from badbuzz.stream.topics import TopicMatcher, TopicRule, fold

CONFIG = {"topics": [
    {"name": "air-paradis", "mentions": ["AirParadis"], "keywords": ["air paradis"], "hashtags": ["#AirParadis"]},
    {"name": "delays", "keywords": ["delay", "délai", "late"], "regexes": [r"retard\w*"]},
]}


@pytest.fixture
def matcher() -> TopicMatcher:
    return TopicMatcher.from_config(CONFIG)


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        ("Thanks @AIRPARADIS for the upgrade", ("all", "air-paradis")),
        ("Flying Air   Paradis tomorrow", ("all", "air-paradis")),
        ("#airparadis flight DELAYED... no: delay of 3h", ("all", "air-paradis", "delays")),
        ("encore un DÉLAI et un Retard énorme", ("all", "delays")),
        ("chocolate is lately my thing", ("all",)),          # whole words only: 'late' ≠ 'lately'
        ("mail@airparadis.com is down", ("all",)),           # an address is not a mention
        ("#airparadisfan", ("all",)),                         # a longer hashtag is another hashtag
    ],
)
def test_assignment(matcher: TopicMatcher, text: str, topics: tuple[str, ...]) -> None:
    assert matcher.assign(text) == topics


def test_upstream_topics_are_kept_once(matcher: TopicMatcher) -> None:
    assert matcher.assign("late again", upstream=["delays", "vip"]) == ("all", "delays", "vip")
    assert matcher.names == ["all", "air-paradis", "delays"]


def test_fold_strips_accents_and_case() -> None:
    assert fold("Évènement ÇA") == "evenement ca"


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({"topics": [{"name": "all", "keywords": ["x"]}]}, "invalid topic name"),
        ({"topics": [{"name": "x"}]}, "no rules"),
        ({"topics": [{"name": "x", "regexes": ["("]}]}, "invalid regular expression"),
        ({"topics": [{"name": "x", "keywords": "late"}]}, "list of strings"),
        ({"topics": [{"name": "x", "keywords": ["a"]}, {"name": "x", "keywords": ["b"]}]}, "duplicate"),
        ([], "JSON object"),
    ],
)
def test_bad_config_is_refused_clearly(doc: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        TopicMatcher.from_config(doc)


def test_rule_needs_a_valid_name() -> None:
    with pytest.raises(ValueError):
        TopicRule.build("Bad Name", keywords=["x"])
