"""Read back what a page displays: the inverse of ``dashboard.text.escape_markdown``."""

from __future__ import annotations

import re

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def unescape_markdown(escaped: str) -> str:
    """What a CommonMark renderer shows for an escaped string (inverse of ``escape_markdown``
    on single-line text)."""
    return _ESCAPED.sub(r"\1", escaped).replace("\u2060", "")  # the word joiners too
