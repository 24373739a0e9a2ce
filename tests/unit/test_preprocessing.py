from __future__ import annotations

import pytest

from badbuzz.models.serving.preprocessing import (
    PREPROCESSORS,
    UnknownPreprocessing,
    get_preprocessor,
    preprocess_tweet_v1,
    preprocess_tweet_v2,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("@united lost my bag", "@user lost my bag"),
        ("see http://t.co/abc and www.x.com/y now", "see http and http now"),
        ("mail me at a@b.com", "mail me at a@b.com"),
        ("so   bad\n\ttoday ", "so bad today"),
        ("&quot;great&quot; &amp; &lt;3", '"great" & <3'),
        ("Love it 😍 !!! :-)", "Love it 😍 !!! :-)"),
    ],
)
def test_v1(raw: str, clean: str) -> None:
    assert preprocess_tweet_v1(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("depression sucks😔 ", "depression sucks pensive face"),
        ("@bob lol 😂😂😂 see https://t.co/x", "@user lol face with tears of joy see http"),  # a run spelled once
        ("😂😭", "face with tears of joy loudly crying face"),
        ("great 👍🏽 flight 🇫🇷", "great thumbs up sign flight"),  # skin tone and flag letters dropped
        ("I ❤️ it", "I heavy black heart it"),  # variation selector dropped
        ("so   bad &amp; :-( !!", "so bad & :-( !!"),  # version 1 underneath; emoticons and punctuation kept
        ("café naïve 日本", "café naïve 日本"),  # letters of any script are not symbols
    ],
)
def test_v2_spells_out_emoji(raw: str, clean: str) -> None:
    assert preprocess_tweet_v2(raw) == clean
    assert preprocess_tweet_v2(clean) == clean  # training texts are preprocessed again at export: must be stable


def test_v1_is_unchanged_by_v2() -> None:
    assert preprocess_tweet_v1("Love it 😍") == "Love it 😍"


def test_registry_refuses_unknown_versions() -> None:
    assert get_preprocessor("tweet-v1") is PREPROCESSORS["tweet-v1"]
    assert get_preprocessor("tweet-v2") is preprocess_tweet_v2
    with pytest.raises(UnknownPreprocessing, match="tweet-v99"):
        get_preprocessor("tweet-v99")
