"""Time remaining and sub-step progress from a sweep's events."""

from __future__ import annotations

import pytest

from dashboard import progress


def _events(done_times: list[float]) -> list[dict]:
    events, start = [], 100.0
    events.append({"time": 90.0, "stage": "source model", "epoch": 3, "epochs": 12})
    for i, end in enumerate(done_times):
        events.append({"time": start, "stage": "select", "run_index": i})
        events.append({"time": end, "stage": "done", "run_index": i})
        start = end
    return events


def test_durations_and_smoothed_time_remaining() -> None:
    events = _events([110.0, 130.0, 140.0])  # runs of 10, 20, 10 s
    assert progress.run_durations(events) == [10.0, 20.0, 10.0]
    per_run = 0.3 * 10 + 0.7 * (0.3 * 20 + 0.7 * 10)
    assert progress.smoothed([10, 20, 10]) == pytest.approx(per_run)
    assert progress.remaining_seconds(events, 5, now=145.0) == pytest.approx(2 * per_run - 5)
    assert progress.remaining_seconds(events, 3, now=150.0) == 0.0
    assert progress.remaining_seconds(events[:1], 5, now=95.0) is None  # nothing finished yet
    # one slow run moves the estimate by its weight only, not to its own value
    slow = progress.smoothed([10, 20, 10, 100])
    assert per_run < slow < 0.5 * (per_run + 100)


def test_step_progress_of_the_preparation() -> None:
    assert progress.step_progress(_events([])) == ("source model: epoch 3 of 12", 0.25)
    features = [{"time": 1.0, "stage": "features", "done": 640, "total": 1280}]
    assert progress.step_progress(features) == ("backbone features: 640 of 1280 samples", 0.5)
    assert progress.step_progress(_events([110.0])) is None  # runs under way
    assert progress.sweep_estimate(3.0, 48, 20.0) == pytest.approx(164.0)
    assert progress.sweep_estimate(None, 48, 20.0) is None
