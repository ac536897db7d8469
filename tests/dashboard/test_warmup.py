"""dashboard.warmup: the modules it imports in the background exist, and it starts once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dashboard import warmup

REPO = Path(__file__).resolve().parents[2]


def test_every_warmed_module_imports_and_none_brings_torch() -> None:
    """A typo would warm nothing; torch holds the interpreter for seconds while it loads, so a
    background import of it stalls whatever the user clicks meanwhile (measured: 1-2 s)."""
    code = (
        "import importlib, sys\n"
        f"for name in {warmup.MODULES + warmup.PAGE_MODULES!r}: importlib.import_module(name)\n"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_starts_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for earlier in _warmup_threads():  # started by app tests
        earlier.join(timeout=60)
    monkeypatch.setattr(warmup, "_started", threading.Event())
    imported: list[str] = []
    monkeypatch.setattr(warmup.importlib, "import_module", imported.append)
    niceness: list[int] = []

    def figures() -> None:
        imported.append("figures")
        if sys.platform.startswith("linux"):  # the thread's own nice value
            niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    monkeypatch.setattr(warmup, "warm_figures", figures)
    assert warmup.start() is True
    assert warmup.start() is False
    for thread in _warmup_threads():
        thread.join(timeout=30)
    assert imported == [*warmup.MODULES, *warmup.PAGE_MODULES, "figures"]
    # lowest priority: it runs while the browser draws the first page, on the same cores
    assert niceness == ([19] if sys.platform.startswith("linux") else [])


def test_the_warm_up_figure_has_every_trace_type_the_pages_draw() -> None:
    """Each trace type loads its own plotly classes on first use: a type the pages draw but
    the warm-up leaves out would still cost its first visitor that load."""
    import json

    from dashboard import live_chart

    figure = json.loads(warmup.warm_figures())
    assert {trace["type"] for trace in figure["data"]} == live_chart.SLIM_TRACES
    assert figure["layout"]["yaxis"]["type"] == "log"
    assert figure["layout"]["template"]["layout"]  # the pages' white template


def _warmup_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "forgelens-warmup"]
