"""Text samples shown safely in Streamlit markdown (tweets of text scenarios).

Streamlit renders markdown with LaTeX (``$...$``), emoji/colour directives (``:red[...]``) and
GitHub autolinks, so a raw tweet such as ``$AAPL up *again* #apple <3`` would turn into maths,
italics, a heading or be eaten as HTML. Every ASCII punctuation character is backslash-escaped
(CommonMark allows exactly that; Streamlit documents ``\\$`` for a literal dollar), and line
breaks become spaces, so the text renders as itself.

Escaping is not enough for links: Streamlit's renderer turns ``http://``, ``www.`` and
``name@host`` in plain text into links (GitHub's autolinks) even when escaped. So an invisible
word joiner (U+2060) goes after the ``:`` of ``://``, after ``www`` and after ``@``: the text
reads the same, and no link (nor a request to its host) is made from it.
"""

from __future__ import annotations

import re
import string

MARKDOWN_SPECIALS = frozenset(string.punctuation)  # CommonMark's escapable ASCII punctuation
SNIPPET_CHARS = 200
WORD_JOINER = "\u2060"  # invisible; breaks autolinks
_AUTOLINKS = re.compile(r"\\:(?=\\/\\/)|(?i:\bwww)(?=\\\.)|\\@")


def escape_markdown(text: str) -> str:
    """``text`` with every ASCII punctuation character backslash-escaped, on one line, and no
    autolink (a word joiner inside each ``://``, ``www.`` and ``@``)."""
    flat = " ".join(str(text).split())
    escaped = "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in flat)
    return _AUTOLINKS.sub(lambda match: match.group(0) + WORD_JOINER, escaped)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """At most ``limit`` characters of ``text`` on one line, an ellipsis marking a cut."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)].rstrip() + "…"


def quote_markdown(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A markdown block quote of the (truncated, escaped) text, for ``st.markdown``."""
    return "> " + escape_markdown(snippet(text, limit))
