"""How long a sweep takes: the one estimator behind every "about ..." (Home, Run page, CLI).

Calibrated by what this store measured, in this order:

- seconds per run: the median ``timings.total`` of the finished runs of the same scenario
  and adaptation (per selector when it has runs, else over the scenario's runs);
- preparation (scenario, source model, pool embedding) and the work after the last run (UMAP
  views): measured on the progress logs of earlier sweeps in ``<store>/_jobs/*.jsonl``
  (stamped events: first event -> first run, last run -> finished), separately for a sweep
  that found no prepared pool ("cold") and one that reused it;
- runs already in the store are reused, not computed: they count zero.

Without a measurement the documented defaults below stand in (``basis`` says which): the quick
demo of the default scenario as ``benchmarks/bench_first_figure.py`` measured it on a 2-core CPU
machine, with its browser open (about 2.4 s per full-adaptation run, the pool's tangent norms
and UMAP views computed beside the runs; about 8 s from the first event to the first run,
source-model training included; about 2 s of pool work left after the last run). While a
sweep runs, ``remaining`` replaces the planned seconds per run by the ones this sweep has
measured so far; once it ends, ``took`` is its actual duration.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.base.paths import JOBS

DEFAULT_RUN_SECONDS = 2.4  # one full-adaptation run of the default scenario, 2-core CPU
DEFAULT_PREPARE_SECONDS = 8.0  # scenario + source model training + pool embedding, cold
DEFAULT_WARM_PREPARE_SECONDS = 5.0  # the same with the source model and pool in the store
DEFAULT_AFTER_SECONDS = 2.0  # a new pool's tangent norms and UMAP views left after the last run
SMOOTHING = 0.3  # weight of the newest run's duration in the running per-run estimate
MAX_LOG_BYTES = 8 << 20  # a progress log larger than this is not read for calibration


@dataclass(frozen=True)
class SweepTimes:
    """What one finished sweep's progress log measured (seconds)."""

    scenario: str | None
    prepare: float  # first event -> first event of a run
    after: float  # last finished run -> the sweep's end
    runs: tuple[float, ...]  # each computed run (reused ones left out)
    cold: bool  # no prepared pool was found: the source model was trained or features made
    total: float


@dataclass(frozen=True)
class Estimate:
    """Expected duration of a sweep before it starts, and the parts it is made of."""

    seconds: float
    prepare: float
    after: float
    run_seconds: float  # per computed run
    n_runs: int  # runs the sweep will compute
    n_reused: int  # runs already in the store
    basis: str  # where the numbers come from, in a few words


def _time(event: dict[str, Any]) -> float | None:
    time = event.get("time")
    return float(time) if isinstance(time, int | float) and not isinstance(time, bool) else None


def _times(events: Sequence[dict[str, Any]]) -> list[float]:
    return [t for t in map(_time, events) if t is not None]


def run_durations(events: Sequence[dict[str, Any]]) -> list[float]:
    """Seconds of each computed run of a sweep: from its first event (or the previous run's
    ``done``) to its ``done``; reused runs are left out."""
    durations, start = [], None
    for event in events:
        time = _time(event)
        if time is None:
            continue
        if start is None and "run_index" in event:
            start = time
        if event.get("stage") == "done" and start is not None:
            if not event.get("reused"):
                durations.append(time - start)
            start = time
    return durations


def sweep_times(
    events: Sequence[dict[str, Any]], scenario_of: dict[str, str] | None = None
) -> SweepTimes | None:
    """The stage times of a finished sweep's events (None if it did not finish, or computed
    no run); ``scenario_of`` maps run ids (of ``done`` events) to their scenario."""
    timed = [e for e in events if _time(e) is not None]
    ends = [_time(e) for e in timed if e.get("stage") == "finished"]
    firsts = [_time(e) for e in timed if "run_index" in e]
    dones = [e for e in timed if e.get("stage") == "done"]
    runs = run_durations(timed)
    if not ends or not firsts or not dones or not runs:
        return None
    start = _time(timed[0])
    before = [e for e in timed if "run_index" not in e and _time(e) < firsts[0]]
    # trained a source model (epochs) or computed backbone features (a feature pass)
    cold = any("epoch" in e or (e.get("stage") == "features" and "total" in e) for e in before)
    run_id = next((e.get("run_id") for e in dones if isinstance(e.get("run_id"), str)), None)
    return SweepTimes(
        scenario=(scenario_of or {}).get(run_id) if run_id else None,
        prepare=firsts[0] - start,
        after=max(0.0, ends[-1] - _time(dones[-1])),
        runs=tuple(runs),
        cold=cold,
        total=ends[-1] - start,
    )


def read_events(path: Path) -> list[dict[str, Any]]:
    """The JSON-object lines of a progress log; anything else (a torn line, bytes that are not
    UTF-8, a log over ``MAX_LOG_BYTES``) is skipped: the log is data, and calibration only."""
    try:
        if path.stat().st_size > MAX_LOG_BYTES:
            return []
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return []
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def past_sweeps(root: str | os.PathLike[str], runs: pd.DataFrame) -> list[SweepTimes]:
    """The stage times of every finished sweep whose progress log is in the store's jobs
    folder (the dashboard's sweeps); ``runs`` is the store's run table (for the scenarios)."""
    scenario_of = dict(zip(runs["run_id"], runs["scenario"], strict=True)) if len(runs) else {}
    found = []
    for path in sorted(Path(root, JOBS).glob("*.jsonl")):
        times = sweep_times(read_events(path), scenario_of)
        if times is not None:
            found.append(times)
    return found


def _median(values: Iterable[float]) -> float | None:
    kept = [float(v) for v in values if v is not None and v == v and v >= 0]
    return statistics.median(kept) if kept else None


def estimate(
    runs: pd.DataFrame,
    past: Sequence[SweepTimes],
    *,
    scenario: str,
    methods: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    adaptation: str | None = None,
) -> Estimate:
    """The expected duration of sweeping ``scenario`` x ``methods`` x ``budgets`` x ``seeds``
    on this store (``runs``: its run table; ``past``: ``past_sweeps``)."""
    mine = runs[runs["scenario"] == scenario] if len(runs) else runs
    if adaptation is not None and len(mine):
        mine = mine[mine["adaptation"] == adaptation]
    have = (
        set(
            zip(mine["method"], mine["budget"].astype(float), mine["seed"].astype(int), strict=True)
        )
        if len(mine)
        else set()
    )
    grid = [(m, float(b), int(s)) for m in methods for b in budgets for s in seeds]
    todo = [cell for cell in grid if cell not in have]
    overall = _median(mine["total_seconds"]) if len(mine) else None
    per_method: dict[str, float] = {}
    for method in {m for m, _, _ in todo}:
        own = _median(mine.loc[mine["method"] == method, "total_seconds"]) if len(mine) else None
        per_method[method] = own if own is not None else (overall or DEFAULT_RUN_SECONDS)
    run_total = sum(per_method[m] for m, _, _ in todo)
    run_seconds = run_total / len(todo) if todo else (overall or DEFAULT_RUN_SECONDS)
    basis = (
        f"median run time of the {len(mine)} runs of {scenario} in this store"
        if overall is not None
        else f"a default of {DEFAULT_RUN_SECONDS:g} s per run (2-core CPU)"
    )
    cold = len(runs[runs["scenario"] == scenario]) == 0 if len(runs) else True
    sweeps = [p for p in past if p.scenario == scenario and p.cold == cold]
    prepare = _median(p.prepare for p in sweeps)
    after = _median(p.after for p in sweeps)
    if prepare is None:
        prepare = DEFAULT_PREPARE_SECONDS if cold else DEFAULT_WARM_PREPARE_SECONDS
        after = DEFAULT_AFTER_SECONDS if cold else 0.0
        basis += "; preparation: a default"
    else:
        basis += f"; preparation measured by {len(sweeps)} earlier sweep(s)"
    if not todo:
        basis = f"all {len(grid)} runs are in the store already (reused)"
    return Estimate(
        seconds=prepare + run_total + (after or 0.0),
        prepare=prepare,
        after=after or 0.0,
        run_seconds=run_seconds,
        n_runs=len(todo),
        n_reused=len(grid) - len(todo),
        basis=basis,
    )


def store_estimate(
    root: str | os.PathLike[str],
    *,
    scenario: str,
    methods: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    adaptation: str | None = None,
) -> Estimate:
    """``estimate`` calibrated by the store at ``root`` (its runs and its sweeps' logs)."""
    from core.storage.store import RunStore

    runs = RunStore(root).finished_runs()
    return estimate(
        runs,
        past_sweeps(root, runs),
        scenario=scenario,
        methods=methods,
        budgets=budgets,
        seeds=seeds,
        adaptation=adaptation,
    )


def smoothed(values: Sequence[float]) -> float | None:
    """Exponentially weighted mean (the newest weighs ``SMOOTHING``), None for no values."""
    mean = None
    for value in values:
        mean = value if mean is None else SMOOTHING * value + (1 - SMOOTHING) * mean
    return mean


def remaining(planned: Estimate | None, events: Sequence[dict[str, Any]], now: float) -> float:
    """Seconds left of a running sweep: what is left of the preparation, then the runs still
    to compute (at the per-run time this sweep has measured so far, the planned one before
    its first run) less the time the current run has taken, then the work after the runs.
    ``planned`` None: the defaults."""
    plan = planned or Estimate(
        seconds=DEFAULT_PREPARE_SECONDS + DEFAULT_AFTER_SECONDS,
        prepare=DEFAULT_PREPARE_SECONDS,
        after=DEFAULT_AFTER_SECONDS,
        run_seconds=DEFAULT_RUN_SECONDS,
        n_runs=0,
        n_reused=0,
        basis="defaults",
    )
    timed = [e for e in events if _time(e) is not None]
    if not timed:
        return plan.seconds
    counts = [e["n_runs"] for e in timed if isinstance(e.get("n_runs"), int)]
    n_runs = counts[0] if counts else plan.n_runs + plan.n_reused
    # the share of the grid the plan expected to compute (the rest is reused in a moment)
    share = plan.n_runs / (plan.n_runs + plan.n_reused) if plan.n_runs + plan.n_reused else 1.0
    run_events = [e for e in timed if "run_index" in e]
    if not run_events:  # still preparing
        left = max(plan.prepare - (now - _time(timed[0])), 0.0)
        return left + share * n_runs * plan.run_seconds + plan.after
    dones = [e for e in run_events if e.get("stage") == "done"]
    per_run = smoothed(run_durations(timed)) or plan.run_seconds
    current = now - _time(dones[-1] if dones else run_events[0])
    runs_left = max(n_runs - len(dones), 0)
    if runs_left == 0:
        return max(plan.after - current, 0.0)
    return max(share * runs_left * per_run - current, 0.0) + plan.after


def took(events: Sequence[dict[str, Any]]) -> float | None:
    """The actual duration of a sweep that ended (first event to its end), else None."""
    times = _times(events)
    ended = any(e.get("stage") in ("finished", "failed") for e in events)
    return times[-1] - times[0] if ended and len(times) > 1 else None
