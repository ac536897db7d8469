"""A plotly chart that stays mounted while its figure changes: ``plotly_chart(fig, key=...)``.

Why: ``st.plotly_chart`` derives its element id from the figure, so every widget change that
changes the figure mounts a new chart (a new WebGL context and a full ``Plotly.newPlot``).
In a browser without a GPU that costs 1-1.5 s per change on a 2-core machine, and it competes
with the server for the same cores. This component keeps one ``<div>`` per ``key`` and draws
each new figure into it with ``Plotly.react``; selections (click, box, lasso) come back in the
shape ``st.plotly_chart`` returns (``{"selection": {"points": [{"customdata": key}, ...]}}``), so
``dashboard.stats.selected_keys`` reads both. Only the row keys travel back (the figures put
each point's row key in its customdata): a box around thousands of points stays a few KB.

plotly.js is served by the app itself (``server.enableStaticServing``, ``dashboard/static/``):
nothing is fetched from the internet. Figures that use only ``SLIM_TRACES`` (all of ForgeLens's)
get ``plotly-forgelens.min.js``, built from the same plotly.js release by ``tools/plotly_bundle``
(1.5 MB: a browser compiles it in ~0.3 s, against ~1.5 s for the full 4.8 MB bundle on a 2-core
laptop); any other figure, or a plotly package of another plotly.js release, gets the full
``plotly.min.js`` that ships inside the plotly package. Without static serving (another config,
an unwritable checkout) the chart falls back to ``st.plotly_chart``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.figures.style import empty_message
from dashboard.text import escape_markdown

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSET = "plotly.min.js"
SLIM_ASSET = "plotly-forgelens.min.js"
SLIM_TRACES = frozenset({"scatter", "scattergl", "bar", "heatmap"})  # tools/plotly_bundle
# The one plotly config of every chart (the live component and the st.plotly_chart fallback):
# plotly.js 4 offers "Share chart" (an upload to cloud.plotly.com) in every mode bar unless
# told not to, and nothing a chart shows may leave this machine (issue 27).
CLOUD_BUTTONS = ("sendChartToCloud", "sendDataToCloud", "editInChartStudio")
CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "showSendToCloud": False,
    "plotlyServerURL": "",
    "modeBarButtonsToRemove": list(CLOUD_BUTTONS),
}
_JS = (Path(__file__).resolve().parent / "live_chart.js").read_text(encoding="utf-8")
NAME = "forgelens_live_chart"
_component = st.components.v2.component(NAME, js=_JS, isolate_styles=False)
_log = logging.getLogger("forgelens.dashboard")


@cache
def _copy_asset() -> bool:
    """Put the plotly package's own plotly.min.js in the app's static folder (once per
    process; again only when the installed file changed: size or mtime). False when that is
    impossible."""
    import plotly

    source = Path(plotly.__file__).resolve().parent / "package_data" / ASSET
    target = STATIC_DIR / ASSET
    try:
        stamp = (source.stat().st_size, source.stat().st_mtime_ns)
        if not target.is_file() or (target.stat().st_size, target.stat().st_mtime_ns) != stamp:
            STATIC_DIR.mkdir(exist_ok=True)
            partial = target.with_name(f"{ASSET}.{os.getpid()}.partial")  # one per server
            shutil.copy2(source, partial)  # with the source's mtime: the stamp above
            partial.replace(target)  # atomic: a browser never reads half a file
        return True
    except OSError as error:
        _log.warning("live charts off, could not place %s in %s: %s", ASSET, STATIC_DIR, error)
        return False


def _release(path: Path) -> str | None:
    """The plotly.js release a bundle was built from, read from its header comment."""
    try:
        with path.open("rb") as handle:
            found = re.search(rb"plotly\.js v(\d+\.\d+\.\d+)", handle.read(400))
    except OSError:
        return None
    return found.group(1).decode() if found else None


@cache
def _slim_usable() -> bool:
    """The slim bundle is there and built from the plotly.js release the plotly package
    writes figures for (an upgraded plotly gets the full bundle until it is rebuilt)."""
    import plotly

    full = Path(plotly.__file__).resolve().parent / "package_data" / ASSET
    slim = _release(STATIC_DIR / SLIM_ASSET)
    if slim is None or slim != _release(full):
        _log.info("slim plotly.js bundle unusable (%s vs %s): full bundle", slim, _release(full))
        return False
    return True


def asset_url(fig: Any = None) -> str | None:
    """Where the browser loads plotly.js from for ``fig`` (the slim bundle when it can draw
    every trace of it), or None when the app cannot serve plotly.js."""
    if not st.get_option("server.enableStaticServing"):
        return None
    types = {trace.type or "scatter" for trace in fig.data} if fig is not None else set()
    if fig is not None and types <= SLIM_TRACES and _slim_usable():
        name = SLIM_ASSET
    elif _copy_asset():
        name = ASSET
    else:
        return None
    base = st.get_option("server.baseUrlPath").strip("/")
    return f"/{base + '/' if base else ''}app/static/{name}"


PANEL_MIN_WIDTH = 230  # px a panel needs for its title, ticks and points side by side
EXTRA_WIDTH = 150  # px for the y-axis title and the colour bars beside the panels


def min_width(fig: Any) -> int | None:
    """The narrowest width (px) at which a figure of panels side by side shows their titles
    and tick labels without overlap (None for one panel): below it the chart scrolls
    sideways in its own box instead of squeezing (an 800 px window, the sidebar open)."""
    layout = fig.layout.to_plotly_json()
    starts = {
        round(float(axis["domain"][0]), 3)
        for name, axis in layout.items()
        if name.startswith("xaxis") and isinstance(axis, dict) and axis.get("domain")
    }
    return PANEL_MIN_WIDTH * len(starts) + EXTRA_WIDTH if len(starts) > 1 else None


def plotly_chart(fig: Any, *, key: str, selectable: bool = False) -> dict[str, Any]:
    """Draw ``fig`` under ``key``; returns ``{"selection": {"points": [...]}}`` (empty unless
    ``selectable`` and the user picked points of this very figure). A figure that only says
    why it is empty (``figures.style.empty_figure``) is shown as that sentence, no frame."""
    message = empty_message(fig)
    if message is not None:
        st.info(escape_markdown(message), icon=":material/info:")
        return {"selection": {"points": []}}
    src = asset_url(fig)
    if src is None:
        if not selectable:
            st.plotly_chart(fig, key=key, width="stretch", config=dict(CONFIG))
            return {"selection": {"points": []}}
        return st.plotly_chart(
            fig,
            key=key,
            width="stretch",
            config=dict(CONFIG),
            on_select="rerun",
            selection_mode=("points", "box", "lasso"),
        )
    spec = fig.to_json()
    revision = hashlib.blake2b(spec.encode(), digest_size=8).hexdigest()
    result = _component(
        key=key,
        data={
            "figure": spec,
            "revision": revision,
            "src": src,
            "config": CONFIG,
            "selectable": selectable,
            "height": fig.layout.height,
            "minWidth": min_width(fig),
        },
        default={"selection": None},
        on_selection_change=_ignore,
    )
    memory = st.session_state.setdefault(f"_live_chart::{key}", {})
    keys = _keys(result.get("selection"), revision, memory)
    return {"selection": {"points": [{"customdata": k} for k in keys]}}


def _keys(selection: dict[str, Any] | None, revision: str, memory: dict[str, Any]) -> list[Any]:
    """The row keys the user picked in the figure ``revision``, as ``st.plotly_chart`` would
    give them: none from another figure (its keys may name other rows), and none once the
    chart has shown another figure since the pick (going back to the first one does not
    bring an erased selection back). ``memory`` is this chart's note of what it showed."""
    chosen = selection or {}
    if chosen and memory.get("shown") not in (None, revision):
        memory["void"] = chosen.get("id")  # the figure changed under this selection
    memory["shown"] = revision
    if chosen.get("revision") != revision or chosen.get("id") == memory.get("void"):
        return []
    return list(chosen.get("keys") or [])


def _ignore() -> None:
    """A selection reruns the script; the page reads it from the return value."""
