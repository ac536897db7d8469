"""Progress events (the callback type every stage reports through) and readable durations.

Light on purpose (no torch): the CLI, the engine and the dashboard's job panel share it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# a stage reports dicts such as {"stage": "adapt", "message": "...", "estimate_seconds": 12.0}
Progress = Callable[[dict[str, Any]], None]


def ignore(event: dict[str, Any]) -> None:
    """The progress callback that drops every event."""


def format_seconds(seconds: float) -> str:
    """Seconds as a short human duration: 42 s, 3.5 min, 2.1 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
