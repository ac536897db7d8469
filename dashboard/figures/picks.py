"""Picks of an unlabelled pool: their order on the pool's 2-D map, and (labels back) the
predicted class mix of the pool before and after adapting the head."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.base.validation import check_columns
from dashboard.figures.projection import grid_columns
from dashboard.figures.style import (
    BACKGROUND_POINT,
    ORDER_SCALE,
    base_layout,
    base_layout_dict,
    empty_figure,
    plain,
    subplot_axes,
    subplot_grid,
)

MAP_FIELDS = ("idx", "x", "y")
PICK_FIELDS = ("row", "rank", "id", "predicted", "confidence")
NUMBERED = 10  # the first picks carry their rank as a label on the map
HOVER_TEXT = 160  # characters of a pick's text shown on hover
PICK_HOVER = (
    "pick #%{customdata[1]} · %{customdata[2]}<br>predicted %{customdata[3]} "
    "(%{customdata[4]})%{customdata[5]}<extra></extra>"
)


def _hover(picked: pd.DataFrame) -> np.ndarray:
    """customdata per pick: pool row first (a selection maps back to samples), then rank, id,
    prediction, confidence and the start of its text, all escaped (store text is data)."""
    texts = picked["text"] if "text" in picked.columns else pd.Series([""] * len(picked))
    out = np.empty((len(picked), 6), dtype=object)
    out[:, 0] = picked["row"].astype(int).tolist()
    out[:, 1] = picked["rank"].astype(int).tolist()
    out[:, 2] = [plain(v) for v in picked["id"]]
    out[:, 3] = [plain(v) for v in picked["predicted"]]
    out[:, 4] = [f"{float(v):.2f}" for v in picked["confidence"]]
    out[:, 5] = [
        "<br>" + plain(t[:HOVER_TEXT]) + ("…" if len(t) > HOVER_TEXT else "")
        if isinstance(t, str) and t
        else ""
        for t in texts
    ]
    return out


def pick_map_figure(
    points: pd.DataFrame,
    picks: dict[str, pd.DataFrame],
    *,
    columns: int = 3,
    panel_height: int = 400,
    space_label: str = "",
) -> go.Figure:
    """One panel per pick over the pool's 2-D map: the pool faint, the picks coloured by
    their rank (1 = picked first) and the first ``NUMBERED`` labelled with it.

    ``points``: idx, x, y per pool sample; ``picks``: name -> a pick's table (row, rank, id,
    predicted, confidence, optional text). Picks carry their pool row as customdata.
    """
    check_columns("points", points, MAP_FIELDS)
    for frame in picks.values():
        check_columns("picks", frame, PICK_FIELDS)
    if points.empty or not picks:
        return empty_figure("Nothing to draw: choose at least one pick.")
    names = list(picks)
    cols = grid_columns(len(names), columns)
    rows = math.ceil(len(names) / cols)
    layout = subplot_grid(
        [f"<b>{plain(name)}</b>" for name in names],
        rows,
        cols,
        horizontal_spacing=0.03,
        vertical_spacing=0.08 if rows > 1 else 0.0,
        shared=False,
    )
    by_idx = points.set_index("idx")
    background = {
        "type": "scattergl",
        "mode": "markers",
        "x": points["x"].to_numpy(np.float32),
        "y": points["y"].to_numpy(np.float32),
        "showlegend": False,
        "hoverinfo": "skip",
        "marker": {"size": 4, "color": BACKGROUND_POINT, "opacity": 0.7},
    }
    last = max(int(frame["rank"].max()) if len(frame) else 1 for frame in picks.values())
    traces: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        xaxis, yaxis = subplot_axes(i // cols + 1, i % cols + 1, cols)
        picked = picks[name].sort_values("rank", ascending=False)  # the first picks on top
        where = by_idx.loc[picked["row"].to_numpy()]
        x, y = where["x"].to_numpy(np.float32), where["y"].to_numpy(np.float32)
        ranks = picked["rank"].to_numpy(np.int64)
        first = ranks <= NUMBERED
        panel = [
            background,
            {
                "type": "scattergl",
                "mode": "markers",
                "x": x,
                "y": y,
                "showlegend": False,
                "customdata": _hover(picked),
                "hovertemplate": PICK_HOVER,
                "marker": {
                    "size": 8,
                    "color": ranks,
                    "coloraxis": "coloraxis",
                    "line": {"width": 0.8, "color": "#111111"},
                },
            },
            {
                "type": "scatter",
                "mode": "text",
                "x": x[first],
                "y": y[first],
                "text": [str(r) for r in ranks[first]],
                "textposition": "top center",
                "textfont": {"size": 11, "color": "#111111"},
                "showlegend": False,
                "hoverinfo": "skip",
            },
        ]
        traces += [{**trace, "xaxis": xaxis, "yaxis": yaxis} for trace in panel]
    for key in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        layout[key].update(showticklabels=False, showgrid=False, zeroline=False)
    layout["coloraxis"] = {
        "colorscale": ORDER_SCALE,
        "cmin": 1,
        "cmax": max(last, 2),
        "colorbar": {"title": {"text": "pick #"}, "thickness": 14},
    }
    layout.update(
        base_layout_dict(
            height=panel_height * rows + 60,
            title=f"Picks on the UMAP of {space_label}" if space_label else None,
        )
    )
    layout.update(dragmode="zoom", clickmode="event+select", showlegend=False)
    return go.Figure(data=traces, layout=layout)


def class_mix_figure(
    class_names: Sequence[str], before: Sequence[int], after: Sequence[int]
) -> go.Figure:
    """Grouped bars: how many pool samples the model predicts per class, before and after."""
    names = [plain(name) for name in class_names]
    fig = go.Figure(
        [
            go.Bar(name="before (source model)", x=names, y=list(before), marker_color="#9e9e9e"),
            go.Bar(name="after (head adapted on the labels)", x=names, y=list(after)),
        ]
    )
    fig.update_layout(barmode="group", xaxis_title="predicted class", yaxis_title="pool samples")
    fig.update_xaxes(type="category")
    return base_layout(fig, height=340)
