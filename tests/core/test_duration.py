"""The one duration estimator (core.run.duration), checked against stage times a store
recorded: a real debug sweep's run timings and progress log, and hand-made logs whose
numbers are known."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pandas as pd
import pytest

from core.base.paths import JOBS
from core.run import duration


def _runs(rows: list[tuple[str, str, float, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run_id": f"r{i}",
                "scenario": scenario,
                "method": method,
                "budget": budget,
                "seed": seed,
                "adaptation": "full",
                "total_seconds": seconds,
            }
            for i, (scenario, method, budget, seed, seconds) in enumerate(rows)
        ]
    )


def _log(start: float, prepare: float, runs: list[float], after: float, ids: list[str]):
    """The events of a sweep: a cold preparation, one event + done per run, then finished."""
    events = [
        {"time": start, "stage": "scenario"},
        {"time": start + 1, "stage": "source", "epoch": 1, "epochs": 2},
    ]
    t = start + prepare
    for index, (seconds, run_id) in enumerate(zip(runs, ids, strict=True)):
        events.append({"time": t, "stage": "select", "run_index": index, "n_runs": len(runs)})
        t += seconds
        events.append(
            {"time": t, "stage": "done", "run_index": index, "n_runs": len(runs), "run_id": run_id}
        )
    events.append({"time": t + after, "stage": "finished", "done": True})
    return events


def test_sweep_times_read_back_what_a_log_recorded() -> None:
    events = _log(100.0, 12.0, [2.0, 3.0, 4.0], 5.0, ["r0", "r1", "r2"])
    times = duration.sweep_times(events, {"r0": "debug"})
    assert times == duration.SweepTimes("debug", 12.0, 5.0, (2.0, 3.0, 4.0), True, 26.0)
    assert duration.took(events) == 26.0
    assert duration.took(events[:-1]) is None  # still running: no actual time yet
    assert duration.sweep_times(events[:-1]) is None  # unfinished sweeps do not calibrate


def test_estimate_uses_the_store_medians_and_counts_stored_runs_as_reused() -> None:
    runs = _runs(
        [
            ("debug", "random", 0.1, 0, 1.0),
            ("debug", "random", 0.1, 1, 3.0),
            ("debug", "forge", 0.1, 0, 10.0),
            ("other", "badge", 0.1, 0, 99.0),  # another scenario: not used
        ]
    )
    past = [
        duration.SweepTimes("debug", 8.0, 2.0, (1.0,), False, 11.0),
        duration.SweepTimes("debug", 6.0, 4.0, (1.0,), False, 11.0),
        duration.SweepTimes("debug", 50.0, 9.0, (1.0,), True, 60.0),  # cold: not this case
    ]
    plan = duration.estimate(
        runs, past, scenario="debug", methods=["random", "forge", "badge"], budgets=[0.1],
        seeds=[0, 1],
    )  # fmt: skip
    # random s0, s1 and forge s0 are stored; forge s1 at forge's median, badge (no runs of its
    # own) at the scenario's median; warm preparation and after: medians of the warm sweeps
    scenario_median = statistics.median([1.0, 3.0, 10.0])
    assert (plan.n_runs, plan.n_reused) == (3, 3)
    assert plan.prepare == 7.0 and plan.after == 3.0
    assert plan.seconds == pytest.approx(7.0 + 10.0 + 2 * scenario_median + 3.0)
    assert "3 runs of debug" in plan.basis


def test_estimate_falls_back_to_the_documented_defaults() -> None:
    plan = duration.estimate(
        _runs([]), [], scenario="debug", methods=["random", "forge"], budgets=[0.1], seeds=[0]
    )
    assert plan.seconds == pytest.approx(
        duration.DEFAULT_PREPARE_SECONDS
        + 2 * duration.DEFAULT_RUN_SECONDS
        + duration.DEFAULT_AFTER_SECONDS
    )
    assert "default" in plan.basis


def test_remaining_counts_down_with_the_sweeps_own_run_times() -> None:
    plan = duration.Estimate(40.0, 10.0, 5.0, 5.0, 5, 0, "test")
    events = _log(0.0, 10.0, [2.0, 2.0, 2.0, 2.0, 2.0], 5.0, ["a", "b", "c", "d", "e"])
    assert duration.remaining(plan, events[:1], now=4.0) == pytest.approx(6.0 + 25.0 + 5.0)
    # after two runs of 2 s each, 1 s into the third: 3 runs x 2 s - 1 s + 5 s after
    two_done = [e for e in events if e["time"] <= 14.0 and e.get("stage") != "finished"]
    assert duration.remaining(plan, two_done, now=15.0) == pytest.approx(3 * 2.0 - 1.0 + 5.0)
    assert duration.remaining(plan, events[:-1], now=21.0) == pytest.approx(4.0)


def test_one_slow_run_moves_the_time_left_by_its_weight_only() -> None:
    plan = duration.Estimate(0.0, 0.0, 0.0, 1.0, 5, 0, "test")
    events = _log(90.0, 10.0, [10.0, 20.0, 10.0], 0.0, ["a", "b", "c"])[:-1]
    for event in events:
        event["n_runs"] = 5
    assert duration.run_durations(events) == [10.0, 20.0, 10.0]
    per_run = 0.3 * 10 + 0.7 * (0.3 * 20 + 0.7 * 10)
    assert duration.smoothed([10, 20, 10]) == pytest.approx(per_run)
    assert duration.remaining(plan, events, now=145.0) == pytest.approx(2 * per_run - 5)
    slow = duration.smoothed([10, 20, 10, 100])
    assert per_run < slow < 0.5 * (per_run + 100)


def test_a_progress_log_that_is_not_text_is_skipped(tmp_path: Path) -> None:
    jobs = tmp_path / JOBS
    jobs.mkdir()
    (jobs / "bad.jsonl").write_bytes(b"\xff\xfe{not json\n")
    good = _log(0.0, 3.0, [1.0], 1.0, ["r0"])
    (jobs / "good.jsonl").write_text("\n".join(json.dumps(e) for e in good) + "\n")
    found = duration.past_sweeps(tmp_path, _runs([("debug", "random", 0.1, 0, 1.0)]))
    assert [t.scenario for t in found] == ["debug"]


def test_estimate_matches_a_real_debug_sweeps_recorded_stage_times(tmp_path: Path) -> None:
    """Sweep the debug scenario with a progress log in the store, then estimate: the
    per-run seconds are the runs' own recorded timings, the preparation the log's."""
    from core.cli.main import ProgressReporter
    from core.run.sweep import run_sweep
    from core.storage.store import RunStore

    log = tmp_path / JOBS / "sweep.jsonl"
    reporter = ProgressReporter(str(log), quiet=True)
    run_sweep(
        "debug", ["random", "margin"], [0.1], [0], root=str(tmp_path), device="cpu",
        progress=reporter,
    )  # fmt: skip
    reporter.close("done")
    runs = RunStore(tmp_path).finished_runs()
    recorded = dict(zip(runs["method"], runs["total_seconds"], strict=True))
    events = duration.read_events(log)
    measured = duration.sweep_times(
        events, dict(zip(runs["run_id"], runs["scenario"], strict=True))
    )
    assert measured is not None and measured.scenario == "debug" and measured.cold
    # every recorded run time fits inside the log's time of that run
    assert all(
        r <= m + 1e-6 for r, m in zip(sorted(recorded.values()), sorted(measured.runs), strict=True)
    )
    again = duration.store_estimate(
        tmp_path, scenario="debug", methods=["random", "margin"], budgets=[0.1], seeds=[0, 1]
    )
    assert (again.n_runs, again.n_reused) == (2, 2)
    warm = duration.DEFAULT_WARM_PREPARE_SECONDS  # no warm sweep measured yet
    assert again.seconds == pytest.approx(warm + recorded["random"] + recorded["margin"])
    new = duration.store_estimate(
        tmp_path, scenario="debug", methods=["random"], budgets=[0.1], seeds=[0]
    )
    assert new.n_runs == 0 and "in the store already" in new.basis
