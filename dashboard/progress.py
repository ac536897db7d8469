"""Sub-step progress of a background sweep, from its JSON-lines events (pure); its time left
and duration come from the one estimator, ``core.run.duration`` (``dashboard.clock``).

Events carry ``time`` (the CLI stamps each one). A run ends with a ``done`` event; the source
model reports ``epoch``/``epochs`` and the feature pass ``done``/``total`` samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def step_progress(events: Sequence[dict[str, Any]]) -> tuple[str, float] | None:
    """(label, fraction) of the preparation step under way: source-model epochs or the
    feature pass; None once the runs have started or before such an event."""
    if not events or "run_index" in events[-1]:
        return None
    last = events[-1]
    if "epoch" in last and last.get("epochs"):
        return (
            f"source model: epoch {last['epoch']} of {last['epochs']}",
            last["epoch"] / last["epochs"],
        )
    if "done" in last and last.get("total") and last.get("stage") == "features":
        return (
            f"backbone features: {last['done']} of {last['total']} samples",
            last["done"] / last["total"],
        )
    return None
