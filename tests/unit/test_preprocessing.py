from __future__ import annotations

import pytest

from badbuzz.models.preprocessing import PREPROCESSORS, UnknownPreprocessing, get_preprocessor, preprocess_tweet_v1


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


def test_registry_refuses_unknown_versions() -> None:
    assert get_preprocessor("tweet-v1") is PREPROCESSORS["tweet-v1"]
    with pytest.raises(UnknownPreprocessing, match="tweet-v99"):
        get_preprocessor("tweet-v99")
