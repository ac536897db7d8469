"""Import the analysis pages' heavy modules in the background once the server has a visitor.

The home page needs none of scipy.stats, plotly's figure factory or the report builders; the
analysis pages need all of them, and importing them on a 2-core laptop takes 1-2 s. Started
once per server process, after the first page has been served, so that the first visit to an
analysis page does not wait for them (``make run`` imports them before the server listens,
``dashboard.serve``; this is for a plain ``streamlit run``). Never torch here: it holds the
interpreter for ~2 s while it loads, and a click made meanwhile waited that long (measured).
"""

from __future__ import annotations

import importlib
import logging
import threading

MODULES = (
    "scipy.stats",
    "plotly.graph_objects",
    "plotly.subplots",
    "pyarrow.parquet",
    "core.reports",
    "dashboard.figures.gap",
    "dashboard.figures.projection",
    "dashboard.figures.theory",
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


def _import_all() -> None:
    for name in import_modules(MODULES):
        logging.getLogger("forgelens.dashboard").debug("warm-up import of %s failed", name)


def start() -> bool:
    """Start the background imports (once per process); True when this call started them."""
    if _started.is_set():
        return False
    _started.set()
    threading.Thread(target=_import_all, name="forgelens-warmup", daemon=True).start()
    return True
