"""String functions (.str) and concat_str: code points, ASCII whitespace, literal matching (S-STR-*)."""

from __future__ import annotations

import unistack as us

WORDS = ["héllo", "日本語", "👍🏽 ok", "", None, "ÀÉÎ straße"]


def test_len_lower_upper(check):
    # S-STR-LEN (code points: the emoji with skin tone is two), S-STR-CASE
    df = us.from_dict({"s": WORDS})
    out = df.select(n=us.col("s").str.len(), lo=us.col("s").str.lower(),
                    up=us.col("s").str.slice(0, 5).str.upper())
    check(out, {"n": [5, 3, 5, 0, None, 10],
                "lo": ["héllo", "日本語", "👍🏽 ok", "", None, "àéî straße"],
                "up": ["HÉLLO", "日本語", "👍🏽 OK", "", None, "ÀÉÎ S"]})


def test_strip_only_ascii_whitespace(check):
    # S-STR-STRIP: the no-break space U+00A0 and ideographic space U+3000 are kept
    df = us.from_dict({"s": [" \t\n\r\x0b\x0ca b\x0c ", "\u00a0x\u00a0", "\u3000y ", "z", None]})
    check(df.select(us.col("s").str.strip()), {"s": ["a b", "\u00a0x\u00a0", "\u3000y", "z", None]})


def test_contains_starts_ends_are_literal(check):
    # S-STR-LITERAL: '.', '(' and '*' are plain characters, not patterns
    df = us.from_dict({"s": ["a.b", "axb", "(日本)*", "é", None]})
    out = df.select(
        c=us.col("s").str.contains("."),
        p=us.col("s").str.contains("(日本)*"),
        st=us.col("s").str.starts_with("("),
        en=us.col("s").str.ends_with("b"),
        e=us.col("s").str.contains(""),
    )
    check(out, {"c": [True, False, False, False, None], "p": [False, False, True, False, None],
                "st": [False, False, True, False, None], "en": [True, True, False, False, None],
                "e": [True, True, True, True, None]})


def test_like_patterns(check):
    # S-STR-LIKE: % any run (newlines too), _ one code point, backslash escapes, regex characters literal
    df = us.from_dict({"s": ["special requests", "special\nrequests!", "Special requests", "50%", "5x0",
                             "日本x", "a.b", "axb", "", None]})
    out = df.select(
        two=us.col("s").str.like("%special%requests%"),
        one=us.col("s").str.like("__本_"),
        pct=us.col("s").str.like("5_\\%"),
        dot=us.col("s").str.like("a.b"),
        any=us.col("s").str.like("%"),
        exact=us.col("s").str.like("50%"),
    )
    check(out, {"two": [True, True, False, False, False, False, False, False, False, None],
                "one": [False, False, False, False, False, False, False, False, False, None],
                "pct": [False, False, False, True, False, False, False, False, False, None],
                "dot": [False, False, False, False, False, False, True, False, False, None],
                "any": [True, True, True, True, True, True, True, True, True, None],
                "exact": [False, False, False, True, False, False, False, False, False, None]})


def test_like_underscore_and_escape(check):
    # S-STR-LIKE: '_' is one code point ('日本x' has three), '\\_' a literal underscore
    df = us.from_dict({"s": ["日本x", "a_c", "abc", "50%"]})
    out = df.select(u=us.col("s").str.like("_本_"), e=us.col("s").str.like("a\\_c"),
                    p=us.col("s").str.like("50\\%"))
    check(out, {"u": [True, False, False, False], "e": [False, True, False, False],
                "p": [False, False, False, True]})


def test_like_rejects_trailing_backslash():
    import pytest

    with pytest.raises(us.UnistackError, match="lone backslash"):
        us.col("s").str.like("ab\\")


def test_slice_by_code_points(check):
    # S-STR-SLICE
    df = us.from_dict({"s": ["héllo", "日本語", "👍🏽x", "", None]})
    out = df.select(
        a=us.col("s").str.slice(1, 2),
        b=us.col("s").str.slice(-2),
        c=us.col("s").str.slice(2),
        d=us.col("s").str.slice(10, 3),
        e=us.col("s").str.slice(0, 0),
    )
    check(out, {"a": ["él", "本語", "🏽x", "", None], "b": ["lo", "本語", "🏽x", "", None],
                "c": ["llo", "語", "x", "", None], "d": ["", "", "", "", None], "e": ["", "", "", "", None]})


def test_slice_negative_offset_with_length(check):
    # S-STR-SLICE: the window [len+offset, len+offset+length) is clipped to the string
    df = us.from_dict({"s": ["héllo", "ab"]})
    check(df.select(us.col("s").str.slice(-3, 2)), {"s": ["ll", "a"]})


def test_replace_is_literal_and_replaces_all(check):
    # S-STR-LITERAL
    df = us.from_dict({"s": ["a.b.c", "abc", "日本日本", None, "$1\\"]})
    out = df.select(d=us.col("s").str.replace(".", "-"), j=us.col("s").str.replace("日本", "jp"),
                    x=us.col("s").str.replace("$1\\", "$0"))
    check(out, {"d": ["a-b-c", "abc", "日本日本", None, "$1\\"], "j": ["a.b.c", "abc", "jpjp", None, "$1\\"],
                "x": ["a.b.c", "abc", "日本日本", None, "$0"]})


def test_concat_str_null_if_any_input_is_null(check):
    # S-STR-CONCAT
    df = us.from_dict({"a": ["x", "é", None, "日"], "b": ["1", None, "3", "本"]})
    out = df.select(
        c=us.concat_str([us.col("a"), us.col("b")], separator="-"),
        d=us.concat_str(us.col("a"), us.lit("!")),
    )
    check(out, {"c": ["x-1", None, None, "日-本"], "d": ["x!", "é!", None, "日!"]})


def test_string_comparisons_are_by_code_point(check):
    # S-SORT-STRING
    df = us.from_dict({"s": ["a", "B", "é", "日本", None]})
    out = df.select(lt=us.col("s") < "b", eq=us.col("s") == "é", ge=us.col("s") >= "z")
    check(out, {"lt": [True, True, False, False, None], "eq": [False, False, True, False, None],
                "ge": [False, False, True, True, None]})


def test_string_functions_on_empty_input(check):
    # S-SCHEMA
    df = us.from_dict({"s": []}, schema={"s": "string"})
    check(df.select(n=us.col("s").str.len(), u=us.col("s").str.upper()), {"n": [], "u": []})


def test_filter_on_string_predicates(check):
    df = us.from_dict({"s": ["apple", "Apricot", "banana", "日本", None]})
    check(df.filter(us.col("s").str.starts_with("Ap") | us.col("s").str.ends_with("本")), {"s": ["Apricot", "日本"]})
