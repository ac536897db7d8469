"""Selections on a 2-D map of the pool (UMAP of z, BADGE or FORGE embeddings), small multiples.

Every panel shows the whole pool faintly and one selector's picks on top, so the reader sees
where each selector spends its budget: in dense regions, on the fringe, on misclassified or
high-|z| samples.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.validation import check_choice, check_columns
from dashboard.figures.style import (
    BACKGROUND_POINT,
    GAMMA_SCALE,
    ORDER_SCALE,
    base_layout,
    class_color,
    empty_figure,
    plain,
)

COLOUR_BY = ("class", "correctness", "gamma", "pick order")
MAP_FIELDS = ("idx", "x", "y", "label", "correct", "znorm")


def _categories(colour_by: str, frame: pd.DataFrame,
                class_names: list[str] | None) -> list[tuple[str, np.ndarray, str]]:
    """(name, mask, colour) per category for categorical colourings."""
    if colour_by == "class":
        labels = frame["label"].to_numpy()
        out = []
        for label in np.unique(labels):
            name = plain(class_names[label]) if class_names and label < len(class_names) \
                else str(label)
            text = name if name == str(label) else f"{label}: {name}"
            out.append((text, labels == label, class_color(label)))
        return out
    correct = frame["correct"].to_numpy(bool)
    return [("correct under θ₀", correct, "#1f77b4"), ("misclassified", ~correct, "#d62728")]


def selection_map_figure(points: pd.DataFrame, selections: dict[str, pd.DataFrame], *,
                         colour_by: str = "class", class_names: list[str] | None = None,
                         columns: int = 3, panel_height: int = 400,
                         space_label: str = "") -> go.Figure:
    """One panel per selector over the pool map.

    ``points``: one row per pool sample with idx, x, y, label, correct, znorm.
    ``selections``: selector name -> frame with idx and order (pick order, 0-based).
    Selected markers carry the pool idx as customdata.
    """
    check_choice("colour_by", colour_by, COLOUR_BY)
    check_columns("points", points, MAP_FIELDS)
    if points.empty or not selections:
        return empty_figure("Nothing to draw: pick at least one selector with finished runs.")
    names = list(selections)
    cols = grid_columns(len(names), columns)
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[
        f"<b>{name}</b> · {len(selections[name])} picks" for name in names],
        horizontal_spacing=0.03, vertical_spacing=0.08 if rows > 1 else 0.0)
    by_idx = points.set_index("idx")
    znorm_range = (float(points["znorm"].min()), float(points["znorm"].max()))
    for i, name in enumerate(names):
        row, col = i // cols + 1, i % cols + 1
        chosen = selections[name]
        picked = by_idx.loc[chosen["idx"].to_numpy()].reset_index()
        picked["order"] = chosen["order"].to_numpy()
        _add_background(fig, points, colour_by, class_names, row, col)
        _add_picks(fig, picked, colour_by, class_names, row, col, first=i == 0)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    if colour_by == "gamma":
        fig.update_layout(coloraxis={"colorscale": GAMMA_SCALE, "cmin": znorm_range[0],
                                     "cmax": znorm_range[1], **_colorbar("‖z‖")})
    elif colour_by == "pick order":
        last = max(int(s["order"].max()) + 1 if len(s) else 1 for s in selections.values())
        fig.update_layout(coloraxis={"colorscale": ORDER_SCALE, "cmin": 1, "cmax": last,
                                     **_colorbar("pick #")})
    base_layout(fig, height=panel_height * rows + 80,
                title=f"Selections on the UMAP of {space_label}" if space_label else None)
    fig.update_layout(dragmode="select", legend={"y": -0.12 if rows > 1 else -0.2})
    return fig


def grid_columns(n_panels: int, most: int = 3) -> int:
    """Columns of the small-multiples grid: one row up to ``most``, 2 x 2 for four panels."""
    if n_panels == 4 and most >= 2:
        return 2
    return max(1, min(most, n_panels))


def _colorbar(title: str) -> dict:
    return {"colorbar": {"title": {"text": title}, "thickness": 14}}


def _add_background(fig: go.Figure, points: pd.DataFrame, colour_by: str,
                    class_names: list[str] | None, row: int, col: int) -> None:
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    common = {"mode": "markers", "showlegend": False, "hoverinfo": "skip"}
    if colour_by in ("class", "correctness"):
        for _name, mask, colour in _categories(colour_by, points, class_names):
            fig.add_trace(go.Scattergl(x=x[mask], y=y[mask], marker={
                "size": 4, "color": colour, "opacity": 0.3}, **common), row=row, col=col)
    elif colour_by == "gamma":  # faint, on the same scale: where the high-|z| samples are
        fig.add_trace(go.Scattergl(x=x, y=y, marker={
            "size": 4, "color": points["znorm"].to_numpy(), "coloraxis": "coloraxis",
            "opacity": 0.25}, **common), row=row, col=col)
    else:
        fig.add_trace(go.Scattergl(x=x, y=y, marker={
            "size": 4, "color": BACKGROUND_POINT, "opacity": 0.7}, **common), row=row, col=col)


def _add_picks(fig: go.Figure, picked: pd.DataFrame, colour_by: str,
               class_names: list[str] | None, row: int, col: int, *, first: bool) -> None:
    outline = {"width": 0.8, "color": "#222222"}
    hover = ("idx %{customdata}<br>label %{text}<extra></extra>")
    text = picked["label"].astype(str).to_numpy()
    if colour_by in ("class", "correctness"):
        for name, mask, colour in _categories(colour_by, picked, class_names):
            if not mask.any():
                continue
            fig.add_trace(go.Scattergl(
                x=picked["x"].to_numpy()[mask], y=picked["y"].to_numpy()[mask], mode="markers",
                name=name, legendgroup=name, showlegend=first, text=text[mask],
                customdata=picked["idx"].to_numpy()[mask], hovertemplate=hover,
                marker={"size": 7, "color": colour, "line": outline}), row=row, col=col)
        return
    values = picked["znorm"].to_numpy() if colour_by == "gamma" else picked["order"].to_numpy() + 1
    fig.add_trace(go.Scattergl(
        x=picked["x"].to_numpy(), y=picked["y"].to_numpy(), mode="markers", showlegend=False,
        text=text, customdata=picked["idx"].to_numpy(), hovertemplate=hover,
        marker={"size": 7, "color": values, "coloraxis": "coloraxis", "line": outline}),
        row=row, col=col)
