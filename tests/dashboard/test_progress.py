"""Sub-step progress from a sweep's events (time left: tests/core/test_duration.py)."""

from __future__ import annotations

from dashboard import progress


def _events(done_times: list[float]) -> list[dict]:
    events, start = [], 100.0
    events.append({"time": 90.0, "stage": "source model", "epoch": 3, "epochs": 12})
    for i, end in enumerate(done_times):
        events.append({"time": start, "stage": "select", "run_index": i})
        events.append({"time": end, "stage": "done", "run_index": i})
        start = end
    return events


def test_step_progress_of_the_preparation() -> None:
    assert progress.step_progress(_events([])) == ("source model: epoch 3 of 12", 0.25)
    features = [{"time": 1.0, "stage": "features", "done": 640, "total": 1280}]
    assert progress.step_progress(features) == ("backbone features: 640 of 1280 samples", 0.5)
    assert progress.step_progress(_events([110.0])) is None  # runs under way
