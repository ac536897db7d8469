"""The expected duration of a sweep as the pages show it, from the one estimator in core
(``core.run.duration``): before a launch (Home's offers, the Run page), while a job runs
(time left) and once it ended (the time it took)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pandas as pd

from core.base.progress import format_seconds
from core.run import duration


def plan(root: str, runs: pd.DataFrame, request: dict[str, Any]) -> duration.Estimate:
    """The estimate for ``request`` (scenario, methods, budgets, seeds, adaptation) on the
    store at ``root`` whose run table is ``runs``."""
    return duration.estimate(
        runs,
        duration.past_sweeps(root, runs),
        scenario=request["scenario"],
        methods=request["methods"],
        budgets=request["budgets"],
        seeds=request["seeds"],
        adaptation=request.get("adaptation"),
    )


def basis(estimate: duration.Estimate) -> str:
    """What the estimate counts and where its numbers come from, in one line."""
    runs = f"{estimate.n_runs} run(s) to compute"
    if estimate.n_reused:
        runs += f", {estimate.n_reused} reused from the store"
    return f"{runs}; {estimate.basis}"


def describe(estimate: duration.Estimate) -> str:
    """'about 3.5 min (12 run(s) to compute; basis)'."""
    return f"about {format_seconds(estimate.seconds)} ({basis(estimate)})"


def job_line(
    root: str, runs: pd.DataFrame, request: dict[str, Any], events: Sequence[dict], ended: bool
) -> str | None:
    """The clock of a job's card: the time it took once ended, else the time left, planned
    from the runs the store had when the job started (and this job's own run times)."""
    if ended:
        took = duration.took(events)
        return f"took {format_seconds(took)}" if took is not None else None
    if not request.get("scenario") or not events:
        return None
    times = [e["time"] for e in events if isinstance(e.get("time"), int | float)]
    if not times:
        return None
    before = runs
    if len(runs) and "created" in runs:
        created = pd.to_datetime(runs["created"], errors="coerce", utc=True)
        before = runs[created < pd.Timestamp(min(times), unit="s", tz="UTC").floor("s")]
    try:
        planned = plan(root, before, request)
    except (KeyError, TypeError, ValueError):  # a request without a sweep's fields
        planned = None
    left = duration.remaining(planned, events, time.time())
    return f"about {format_seconds(left)} left"
