"""Shared look: selector colours, class palette, colour scales and layout defaults."""

from __future__ import annotations

import html
import json
from functools import lru_cache
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative

METHOD_COLORS = {
    "random": "#7f7f7f",
    "margin": "#bcbd22",
    "entropy": "#17becf",
    "duc": "#8c564b",
    "coreset": "#2ca02c",
    "badge": "#1f77b4",
    "clue": "#9467bd",
    "forge": "#d62728",
    "forge-kmeanspp": "#ff7f0e",
}
CLASS_PALETTE = qualitative.D3 + qualitative.Dark24
GAMMA_SCALE = "Viridis"
ORDER_SCALE = "Plasma"
DISTANCE_SCALE = "Cividis"
# log axes: 1e-4 written as 10^-4, never the SI "100µ" (a gap is not in micro-units)
LOG_AXIS = {"exponentformat": "power", "showexponent": "all", "minorloglabels": "none"}
TREND_COLOR = "#e31a1c"
BACKGROUND_POINT = "#b4b4b4"
SPACE_TITLES = {"coreset": "CORESET", "badge": "BADGE", "forge": "FORGE", "z": "features z"}
FONT_SIZE = 13


def plain(text: object) -> str:
    """Text shown as itself in a plotly figure: plotly renders a subset of HTML in labels
    (``<b>``, ``<a href>``...), so text read from files is HTML-escaped first."""
    return html.escape(str(text), quote=False)


def method_color(method: str, position: int = 0) -> str:
    """A stable colour per selector name; unknown names fall back to the class palette."""
    return METHOD_COLORS.get(method, CLASS_PALETTE[position % len(CLASS_PALETTE)])


def class_color(label: int) -> str:
    return CLASS_PALETTE[int(label) % len(CLASS_PALETTE)]


def space_title(space: str) -> str:
    return SPACE_TITLES.get(space, space)


def base_layout_dict(*, height: int, title: str | None = None) -> dict[str, Any]:
    """Common margins, font, white template and legend placement, as a layout dict."""
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "height": height,
        "font": {"size": FONT_SIZE},
        "margin": {"l": 60, "r": 20, "t": 80 if title else 60, "b": 60},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    }
    if title:
        layout["title"] = {"text": title}
    return layout


def base_layout(fig: go.Figure, *, height: int, title: str | None = None) -> go.Figure:
    """Common margins, font, white template and legend placement."""
    fig.update_layout(**base_layout_dict(height=height, title=title))
    return fig


@lru_cache(maxsize=32)
def _grid_json(
    rows: int, cols: int, horizontal_spacing: float, vertical_spacing: float, shared: bool
) -> str:
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[" "] * (rows * cols),
        horizontal_spacing=horizontal_spacing,
        vertical_spacing=vertical_spacing,
        shared_xaxes="columns" if shared else False,
        shared_yaxes="all" if shared else False,
    )
    layout = fig.layout.to_plotly_json()
    layout.pop("template", None)
    return json.dumps(layout)


def subplot_grid(
    titles: list[str],
    rows: int,
    cols: int,
    *,
    horizontal_spacing: float,
    vertical_spacing: float,
    shared: bool = True,
) -> dict[str, Any]:
    """The layout ``make_subplots`` makes for a grid (``shared``: x axes shared per column and
    y axes all shared; else every panel its own axes), with ``titles`` (row by row) over the
    panels: a fresh dict each call. Why: building a figure through plotly's object API
    (make_subplots, add_trace, update_layout) costs ~0.1 s for the gap figure and ~0.2 s for
    the UMAP map; one dict handed to ``go.Figure`` is validated in a fraction of that, and
    every widget change of those pages rebuilds its figure."""
    layout = json.loads(_grid_json(rows, cols, horizontal_spacing, vertical_spacing, shared))
    for annotation, title in zip(layout["annotations"], titles, strict=True):
        annotation["text"] = title
    return layout


def subplot_axes(row: int, col: int, cols: int) -> tuple[str, str]:
    """The (x, y) axis ids of the panel at ``row``, ``col`` (from 1) of a grid made by
    ``subplot_grid``: "x", "y" for the first, then "x2", "y2"... row by row."""
    number = (row - 1) * cols + col
    suffix = "" if number == 1 else str(number)
    return f"x{suffix}", f"y{suffix}"


def axis_key(axis_id: str) -> str:
    """The layout key of an axis id: "x2" -> "xaxis2", "y" -> "yaxis"."""
    return f"{axis_id[0]}axis{axis_id[1:]}"


def flat_range(values: Any, *, percent: bool = False) -> list[float] | None:
    """The axis range for values that are all equal (None otherwise): plotly would stretch one
    unit either side of the value, and its ticks then suggest differences that are not there.
    A percentage gets 0-100; any other value the span from 0 to twice itself (-1 to 1 for 0)."""
    import numpy as np

    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0 or finite.min() != finite.max():
        return None
    value = float(finite[0])
    if percent and 0 <= value <= 100:
        return [0.0, 100.5]
    return sorted([0.0, 2 * value]) if value else [-1.0, 1.0]


EMPTY_META = "forgelens-empty"  # layout.meta key: the figure only carries a sentence


def empty_message(fig: go.Figure) -> str | None:
    """The sentence of a figure made by ``empty_figure`` (pages show it as text, no frame)."""
    meta = fig.layout.meta
    return meta.get(EMPTY_META) if isinstance(meta, dict) else None


def empty_figure(message: str, height: int = 300) -> go.Figure:
    """A blank figure that says why it is blank (never an empty white box); ``live_chart``
    shows its sentence alone, without a chart frame."""
    fig = go.Figure(layout={"meta": {EMPTY_META: message}})
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 15}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, height=height)
