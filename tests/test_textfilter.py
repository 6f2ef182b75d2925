"""The configurable text filter: whole words, phrases, both Medius modes, bounded input."""

from __future__ import annotations

import pytest

from clank_lan.protocol.medius.enums import CallbackStatus, TextFilterType
from clank_lan.textfilter import (
    MAX_PHRASE_WORDS,
    MAX_TEXT_LEN,
    MAX_WORD_LEN,
    MAX_WORDS,
    TextFilter,
    TextFilterError,
)


def test_an_empty_list_passes_everything_unchanged():
    f = TextFilter()
    assert f.passes("anything at all")
    assert f.apply(TextFilterType.PASS_FAIL, "Hello") == (CallbackStatus.PASS, "Hello")
    assert f.apply(TextFilterType.REPLACE, "Hello") == (CallbackStatus.PASS, "Hello")


def test_whole_words_only_and_case_insensitive():
    f = TextFilter(["darn"])
    assert not f.passes("well DARN it")
    assert not f.passes("darn!")
    assert f.passes("darning socks")  # inside a longer word: not a hit
    assert f.passes("undarn")
    assert f.hits("Darn, darn") == ["Darn", "darn"]


def test_pass_fail_refuses_and_replace_masks_letter_for_letter():
    f = TextFilter(["heck", "dang"])
    assert f.apply(TextFilterType.PASS_FAIL, "what the heck") == (CallbackStatus.FILTER_FAILED, "")
    assert f.apply(TextFilterType.PASS_FAIL, "hello there") == (CallbackStatus.PASS, "hello there")
    assert f.apply(TextFilterType.REPLACE, "Heck, dang it") == (CallbackStatus.PASS, "****, **** it")
    # a mode no title is known to send is treated as replace
    assert f.apply(7, "heck") == (CallbackStatus.PASS, "****")


def test_phrases_match_across_any_separator_and_win_over_their_first_word():
    f = TextFilter(["bad", "bad   guy"], mask="#")
    assert f.clean("a bad-guy here") == "a ####### here"
    assert f.clean("a bad day") == "a ### day"
    assert f.words == frozenset({"bad", "bad guy"})


def test_the_word_list_file_skips_blanks_and_comments(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("# operator's list\nfoo\n\n  bar baz  # a phrase\n", encoding="utf-8")
    f = TextFilter.from_file(path)
    assert f.words == frozenset({"foo", "bar baz"})
    assert not f.passes("FOO")
    assert f.passes("bar")


def test_bad_lists_are_refused_with_a_reason(tmp_path):
    with pytest.raises(TextFilterError, match="longer than"):
        TextFilter(["x" * (MAX_WORD_LEN + 1)])
    with pytest.raises(TextFilterError, match="phrase"):
        TextFilter([" ".join(["w"] * (MAX_PHRASE_WORDS + 1))])
    with pytest.raises(TextFilterError, match="more than"):
        TextFilter(f"w{i}" for i in range(MAX_WORDS + 1))
    with pytest.raises(TextFilterError, match="one character"):
        TextFilter(["a"], mask="**")
    with pytest.raises(TextFilterError, match="missing"):
        TextFilter.from_file(tmp_path / "missing")
    big = tmp_path / "big.txt"
    big.write_bytes(b"a\n" * (1 << 20))
    with pytest.raises(TextFilterError, match="bytes"):
        TextFilter.from_file(big)


def test_only_the_bounded_head_of_a_hostile_text_is_looked_at():
    f = TextFilter(["bad"])
    tail = " bad" * 100
    text = "x" * MAX_TEXT_LEN + tail
    assert f.passes(text)
    assert f.clean(text) == text
    assert not f.passes("bad" + tail)


def test_a_large_list_costs_no_more_per_text_than_a_small_one():
    """The lookup is by set: a 10 000-word list finds the last word as it finds the first."""
    f = TextFilter(f"word{i}" for i in range(MAX_WORDS))
    assert not f.passes("hello word9999")
    assert not f.passes("word0")
    assert f.passes("word10000 is not listed")
