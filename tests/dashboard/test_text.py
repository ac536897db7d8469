"""Text samples in markdown: escaping that shows a tweet as typed, and truncation."""

from __future__ import annotations

import re
import string

import pytest

from dashboard.text import (
    SNIPPET_CHARS,
    escape_markdown,
    quote_markdown,
    snippet,
)
from tests.helpers.markdown import unescape_markdown

TWEETS = [
    "$AAPL to the moon $500 by friday, $TSLA next",
    "# not a heading *not bold* _not italic_ <b>not html</b> `not code`",
    "@apple :red[colour] [link](http://t.co/x) ~~strike~~ | a | b | \\ back\\slash $x$",
    "1. not a list\n- nor this\n\n> nor a quote",
    "plain words only",
]


@pytest.mark.parametrize("text", TWEETS)
def test_escaping_leaves_no_markup_and_renders_back_to_the_text(text: str) -> None:
    escaped = escape_markdown(text)
    # every ASCII punctuation character is preceded by an odd run of backslashes
    bare = re.sub(r"\\[!-/:-@\[-`{-~]", "", escaped)
    assert not set(bare) & set(string.punctuation), bare
    assert "\n" not in escaped
    assert unescape_markdown(escaped) == " ".join(text.split())


def test_dollars_are_escaped_so_no_latex_starts() -> None:
    escaped = escape_markdown("buy $AAPL sell $MSFT")
    assert escaped == "buy \\$AAPL sell \\$MSFT"
    assert re.search(r"(?<!\\)\$", escaped) is None


def test_snippet_truncates_long_text_with_an_ellipsis() -> None:
    long = "word " * 100
    cut = snippet(long)
    assert len(cut) == SNIPPET_CHARS and cut.endswith("…")
    assert long.startswith(cut[:-1])
    assert snippet("short  text\n") == "short text"
    assert snippet("abcdef", limit=4) == "abc…"


def test_quote_is_a_block_quote_of_the_escaped_snippet() -> None:
    text = "$AAPL " * 60
    quoted = quote_markdown(text)
    assert quoted.startswith("> ") and "\n" not in quoted
    assert unescape_markdown(quoted[2:]) == snippet(text)


@pytest.mark.parametrize(
    "text",
    [
        "![i](http://evil.example/x.png) [l](HTTPS://evil.example) www.evil.example",
        "WWW.evil.example x@evil.example mailto:x@evil.example",
    ],
)
def test_escaped_text_makes_no_autolink(text: str) -> None:
    """Streamlit links http://, www. and emails even in escaped text (seen in a browser:
    tests/dashboard/test_browser_text.py): each is broken by an invisible word joiner."""
    escaped = escape_markdown(text)
    assert re.search(r"\\:\\/\\/|(?i:www)\\\.|\\@(?!\u2060)", escaped) is None, escaped
    assert unescape_markdown(escaped) == text
