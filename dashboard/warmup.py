"""Import the analysis pages' heavy modules in the background once the server has a visitor.

The home page needs none of scipy.stats, plotly's figure factory or the report builders; the
analysis pages need all of them, and importing them on a 2-core laptop takes 1-2 s. Started
once per server process, after the first page has been served, so that the first visit to an
analysis page does not wait for them (``make run`` imports ``MODULES`` before the server
listens, ``dashboard.serve``). ``PAGE_MODULES`` define Streamlit caches, so they are imported
here only, once the server runs. ``warm_figures`` builds a small figure of every trace type:
plotly loads its trace classes, template and dataframe layer on first use (~0.2 s).
Never torch here: it holds the interpreter for ~2 s while it loads, and a click made meanwhile
waited that long (measured).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import sys
import threading

MODULES = (
    "scipy.stats",
    "plotly.graph_objects",
    "plotly.subplots",
    "pyarrow.parquet",
    "core.analysis.reports",
    "dashboard.figures.gap",
    "dashboard.figures.projection",
    "dashboard.figures.theory",
)
# the analysis pages' own modules (they create st.cache_* functions: not before the server runs)
PAGE_MODULES = (
    "dashboard.gap_views",
    "dashboard.exports",
    "dashboard.framing",
    "dashboard.stats",
    "dashboard.tables",
    "dashboard.scenario_form",
    "core.records.previews",
    "core.analysis.projection",
    "core.analysis.domain_report",
)
_started = threading.Event()


def import_modules(names: tuple[str, ...]) -> dict[str, Exception]:
    """Import ``names``; the ones that failed, with why (a page importing it later reports
    the error to the user)."""
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - any import error
            failed[name] = error
    return failed


@functools.cache  # once per process: dashboard.serve and the background thread both ask
def warm_figures() -> str:
    """Build and serialise a small figure with every trace type and layout feature the pages
    use (subplots with titles, WebGL markers on a colour axis, lines, bars, a heatmap, a log
    axis, the shared base layout): the JSON, so that a test can see it is drawable."""
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from dashboard.figures.style import LOG_AXIS, base_layout

    values = np.arange(3, dtype=np.float32)
    fig = make_subplots(rows=1, cols=2, subplot_titles=["<b>a</b>", "b"], shared_yaxes="all")
    fig.add_trace(
        go.Scattergl(
            x=values,
            y=values,
            mode="markers",
            customdata=np.arange(3),
            marker={"color": values, "coloraxis": "coloraxis"},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(go.Scatter(x=["a", "b"], y=[1.0, 2.0], mode="lines"), row=1, col=2)
    fig.add_trace(go.Bar(x=["a", "b"], y=[1.0, 2.0]), row=1, col=2)
    fig.add_trace(go.Heatmap(z=[[1.0, 2.0], [3.0, 4.0]], coloraxis="coloraxis"), row=1, col=2)
    fig.update_yaxes(type="log", **LOG_AXIS)
    fig.update_layout(coloraxis={"colorscale": "Viridis", "colorbar": {"title": {"text": "γ"}}})
    return base_layout(fig, height=300).to_json()


def _lower_priority() -> None:
    """Run this thread at the lowest CPU priority (Linux, where a thread has its own nice
    value): the warm-up starts while the browser still draws the first page, and on 2 cores
    it would take CPU from that drawing."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _import_all() -> None:
    _lower_priority()
    log = logging.getLogger("forgelens.dashboard")
    for name in import_modules(MODULES + PAGE_MODULES):
        log.debug("warm-up import of %s failed", name)
    try:
        warm_figures()
    except Exception as error:  # noqa: BLE001 - a page drawing a figure reports it
        log.debug("figure warm-up failed: %s", error)


def start() -> bool:
    """Start the background imports (once per process); True when this call started them."""
    if _started.is_set():
        return False
    _started.set()
    threading.Thread(target=_import_all, name="forgelens-warmup", daemon=True).start()
    return True
