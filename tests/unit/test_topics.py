from __future__ import annotations

import json
from pathlib import Path

import pytest

from badbuzz.stream.scoring.topics import EXAMPLE_TOPICS, TopicMatcher, TopicRule
from badbuzz.stream.text import fold

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


def test_upstream_topics_are_kept_once_and_only_when_configured(matcher: TopicMatcher) -> None:
    """A producer cannot invent topics: 'vip' is not in the configuration, so it is dropped (and reported by
    ``unknown`` for the counters), not created."""
    assert matcher.assign("late again", upstream=["delays", "vip"]) == ("all", "delays")
    assert matcher.unknown(["delays", "vip", "all"]) == ["vip"]
    assert matcher.names == ["all", "air-paradis", "delays"]
    many = [f"t{i}" for i in range(32)]
    assert matcher.assign("nothing here", upstream=many) == ("all",)


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





def test_the_shipped_example_covers_the_brand_in_english_and_french() -> None:
    m = TopicMatcher.from_file(EXAMPLE_TOPICS)
    assert m.names == ["all", "air-paradis", "delays", "baggage"]
    assert m.assign("Vol annulé pour la troisième fois, Air Paradis c'est une honte") == (
        "all", "air-paradis", "delays")
    assert m.assign("@AirParadis bagage perdu, aucune réponse") == ("all", "air-paradis", "baggage")
    assert m.assign("my luggage never showed up, flight delayed 3h") == ("all", "delays", "baggage")
    assert m.assign("Lovely crew on my Air Paradis flight") == ("all", "air-paradis")


def test_followed_topics_give_the_connectors_their_filters() -> None:
    m = TopicMatcher.from_file(EXAMPLE_TOPICS)
    [(topic, rule)] = m.x_rules()
    assert topic == "air-paradis" and '"air paradis"' in rule and "@airparadis" in rule and " OR " in rule
    words, handles = m.follow_terms()
    assert "air paradis" in words and handles == ["airparadis"]
    custom = TopicMatcher.from_config({"topics": [{"name": "brand", "follow": True, "keywords": ["x"],
                                                   "x_rule": "@brand -is:retweet"}]})
    assert custom.x_rules() == [("brand", "@brand -is:retweet")]


def test_a_misspelt_field_in_the_topics_file_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        TopicMatcher.from_config({"topics": [{"name": "delays", "keyword": ["late"]}]})


def test_grouped_patterns_match_exactly_what_one_pattern_per_rule_matched(data_dir: Path) -> None:
    """The rules are compiled as one alternation per kind (for speed); a tweet must get the same topics as
    with the earlier form, one lookbehind per keyword and IGNORECASE, on real tweets and awkward ones."""
    import re

    from badbuzz.models.data import find_sentiment140
    from badbuzz.stream.sources.replay import shuffled_rows
    def earlier(rule: TopicRule) -> re.Pattern[str]:
        parts = [r"(?<!\w)" + r"\s+".join(map(re.escape, fold(k).split())) + r"(?!\w)" for k in rule.keywords]
        parts += [r"(?<![\w@])@" + re.escape(fold(m).lstrip("@")) + r"(?!\w)" for m in rule.mentions]
        parts += [r"(?<![\w#])#" + re.escape(fold(h).lstrip("#")) + r"(?!\w)" for h in rule.hashtags]
        parts += [f"(?:{rx})" for rx in rule.regexes]
        return re.compile("|".join(parts), re.IGNORECASE)

    config = json.loads(EXAMPLE_TOPICS.read_text())
    config["topics"].append({"name": "regex", "regexes": [r"AIR\s*PARADIS\s+\d+"]})
    matcher = TopicMatcher.from_config(config)
    texts = [r.text for r in shuffled_rows(find_sentiment140(data_dir), seed=3, limit=4000)]
    texts += ["VOL ANNULÉ !!", "@AirParadis@x", "##retard", "late-night", "e-mail: x@airparadis.com", "Air   Paradis",
              "AIR PARADIS 77 en retard", "bagages perdus", "ﬁ baggage", "BAG", "#VolAnnulé", "stillwaiting", ""]
    matched = 0
    for text in texts:
        folded = fold(text)
        for rule in matcher.rules:
            now = rule.matches(folded)
            assert now == (earlier(rule).search(folded) is not None), (rule.name, text)
            matched += now
    assert matched > 30  # the corpus does exercise the rules (49 matches)


def test_rules_whose_words_begin_with_regex_metacharacters_still_match_where_they_should() -> None:
    """The first-character lookahead of a rule's pattern is a character class built from its keywords: ``-``,
    ``]``, ``^`` and ``#`` must stand for themselves there, and a phrase must still match across spaces."""
    rule = TopicRule.build("odd", keywords=["c++", "-x-", "]b", "^hat", "Évènement spécial"], mentions=["a_b"],
                           hashtags=["x-y"])
    hits = ["i love c++ code", "a -x- b", "see ]b now", "^hat trick", "un evenement   special", "hi @a_b", "#x-y"]
    misses = ["c+", "x]b", "hat", "@a_bc", "evenement", "b", "x-y", "a_b"]
    assert [t for t in hits if not rule.matches(t)] == []
    assert [t for t in misses if rule.matches(t)] == []
    with_regex = TopicRule.build("rx", keywords=["late"], regexes=[r"\bvol\s+\d+"])  # a user's pattern: no lookahead
    assert with_regex.matches("vol 123 annule") and with_regex.matches("so late")


def test_a_keyword_that_folds_to_nothing_keeps_the_rule_as_it_was() -> None:
    """A keyword of combining marks alone folds to an empty word; the first-character lookahead is then left
    out (an empty character class would not even compile), so the rule is built as it was without it."""
    marks, mixed = TopicRule.build("marks", keywords=["\u0301"]), TopicRule.build("mixed", keywords=["late", "\u0301"])
    for rule in (marks, mixed):
        assert rule._pattern is not None and not rule._pattern.pattern.startswith("(?=")
    assert mixed.matches("so late")
