"""Times and sub-step progress of a background sweep, from its JSON-lines events (pure).

Events carry ``time`` (the CLI stamps each one). A run ends with a ``done`` event; the source
model reports ``epoch``/``epochs`` and the feature pass ``done``/``total`` samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SMOOTHING = 0.3  # weight of the newest run's duration in the running estimate


def run_durations(events: Sequence[dict[str, Any]]) -> list[float]:
    """Seconds of each finished run: between consecutive ``done`` events (the first from the
    first event of that run)."""
    durations, start = [], None
    for event in events:
        time = event.get("time")
        if not isinstance(time, int | float):
            continue
        if start is None and "run_index" in event:
            start = time
        if event.get("stage") == "done" and start is not None:
            durations.append(time - start)
            start = time
    return durations


def smoothed(values: Sequence[float], alpha: float = SMOOTHING) -> float | None:
    """Exponentially weighted mean (newest weighs ``alpha``), None for no values."""
    mean = None
    for value in values:
        mean = value if mean is None else alpha * value + (1 - alpha) * mean
    return mean


def remaining_seconds(
    events: Sequence[dict[str, Any]], n_runs: int | None, now: float
) -> float | None:
    """Time left: smoothed seconds per run x runs left, minus the time the current run has
    already taken. None until a run has finished."""
    per_run = smoothed(run_durations(events))
    if per_run is None or not n_runs:
        return None
    done = sum(1 for e in events if e.get("stage") == "done")
    last = max(
        (
            e["time"]
            for e in events
            if e.get("stage") == "done" and isinstance(e.get("time"), int | float)
        ),
        default=now,
    )
    left = per_run * max(n_runs - done, 0) - (now - last)
    return max(left, 0.0) if done < n_runs else 0.0


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


def sweep_estimate(
    per_run_seconds: float | None, n_runs: int, setup_seconds: float | None
) -> float | None:
    """Expected duration of a sweep before it starts: setup (scenario, source model, UMAP)
    plus runs x seconds per run; None without a measurement to base it on."""
    if per_run_seconds is None:
        return None
    return (setup_seconds or 0.0) + n_runs * per_run_seconds
