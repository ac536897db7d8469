"""Text samples shown safely in Streamlit markdown (tweets of text scenarios).

Streamlit renders markdown with LaTeX (``$...$``), emoji/colour directives (``:red[...]``) and
GitHub autolinks, so a raw tweet such as ``$AAPL up *again* #apple <3`` would turn into maths,
italics, a heading or be eaten as HTML. Every ASCII punctuation character is backslash-escaped
(CommonMark allows exactly that; Streamlit documents ``\\$`` for a literal dollar), and line
breaks become spaces, so the text renders as itself.
"""

from __future__ import annotations

import string

MARKDOWN_SPECIALS = frozenset(string.punctuation)  # CommonMark's escapable ASCII punctuation
SNIPPET_CHARS = 200


def escape_markdown(text: str) -> str:
    """``text`` with every ASCII punctuation character backslash-escaped, on one line."""
    flat = " ".join(str(text).split())
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in flat)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """At most ``limit`` characters of ``text`` on one line, an ellipsis marking a cut."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)].rstrip() + "…"


def quote_markdown(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A markdown block quote of the (truncated, escaped) text, for ``st.markdown``."""
    return "> " + escape_markdown(snippet(text, limit))
