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

COLOUR_BY = ("class", "correctness", "gamma", "pick order", "domain")
CATEGORICAL = ("class", "correctness", "domain")  # one legend entry and colour per value
MAP_FIELDS = ("idx", "x", "y", "label", "correct", "znorm")


def _categories(
    colour_by: str, frame: pd.DataFrame, class_names: list[str] | None
) -> list[tuple[str, np.ndarray, str]]:
    """(name, mask, colour) per category for categorical colourings."""
    if colour_by == "class":
        labels = frame["label"].to_numpy()
        out = []
        for label in np.unique(labels):
            name = (
                plain(class_names[label])
                if class_names and label < len(class_names)
                else str(label)
            )
            text = name if name == str(label) else f"{label}: {name}"
            out.append((text, labels == label, class_color(label)))
        return out
    if colour_by == "domain":  # folder / file scenarios with several target domains
        check_columns("points", frame, ("domain",))
        domains = frame["domain"].astype(str).to_numpy()
        return [
            (plain(name), domains == name, class_color(i))
            for i, name in enumerate(sorted(set(domains)))
        ]
    correct = frame["correct"].to_numpy(bool)
    return [("correct under θ₀", correct, "#1f77b4"), ("misclassified", ~correct, "#d62728")]


def selection_map_figure(
    points: pd.DataFrame,
    selections: dict[str, pd.DataFrame],
    *,
    colour_by: str = "class",
    class_names: list[str] | None = None,
    columns: int = 3,
    panel_height: int = 400,
    space_label: str = "",
) -> go.Figure:
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
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"<b>{name}</b> · {len(selections[name])} picks" for name in names],
        horizontal_spacing=0.03,
        vertical_spacing=0.08 if rows > 1 else 0.0,
    )
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
        fig.update_layout(
            coloraxis={
                "colorscale": GAMMA_SCALE,
                "cmin": znorm_range[0],
                "cmax": znorm_range[1],
                **_colorbar("‖z‖"),
            }
        )
    elif colour_by == "pick order":
        last = max(int(s["order"].max()) + 1 if len(s) else 1 for s in selections.values())
        fig.update_layout(
            coloraxis={"colorscale": ORDER_SCALE, "cmin": 1, "cmax": last, **_colorbar("pick #")}
        )
    base_layout(
        fig,
        height=panel_height * rows + 80,
        title=f"Selections on the UMAP of {space_label}" if space_label else None,
    )
    fig.update_layout(
        dragmode="zoom",
        clickmode="event+select",
        showlegend=True,  # click picks
        legend={"y": -0.12 if rows > 1 else -0.2},
    )
    return fig


def grid_columns(n_panels: int, most: int = 3) -> int:
    """Columns of the small-multiples grid: one row up to ``most``, 2 x 2 for four panels."""
    if n_panels == 4 and most >= 2:
        return 2
    return max(1, min(most, n_panels))


def _colorbar(title: str) -> dict:
    return {"colorbar": {"title": {"text": title}, "thickness": 14}}


def _add_background(
    fig: go.Figure,
    points: pd.DataFrame,
    colour_by: str,
    class_names: list[str] | None,
    row: int,
    col: int,
) -> None:
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    common = {"mode": "markers", "showlegend": False, "hoverinfo": "skip"}
    if colour_by in CATEGORICAL:
        for _name, mask, colour in _categories(colour_by, points, class_names):
            fig.add_trace(
                go.Scattergl(
                    x=x[mask],
                    y=y[mask],
                    marker={"size": 4, "color": colour, "opacity": 0.3},
                    **common,
                ),
                row=row,
                col=col,
            )
    elif colour_by == "gamma":  # faint, on the same scale: where the high-|z| samples are
        fig.add_trace(
            go.Scattergl(
                x=x,
                y=y,
                marker={
                    "size": 4,
                    "color": points["znorm"].to_numpy(),
                    "coloraxis": "coloraxis",
                    "opacity": 0.25,
                },
                **common,
            ),
            row=row,
            col=col,
        )
    else:
        fig.add_trace(
            go.Scattergl(
                x=x, y=y, marker={"size": 4, "color": BACKGROUND_POINT, "opacity": 0.7}, **common
            ),
            row=row,
            col=col,
        )


PICK_RING = "#111111"


def _pick_hover(picked: pd.DataFrame, class_names: list[str] | None) -> np.ndarray:
    """customdata per pick: pool idx first (selections map back to samples), then the hover's
    class, prediction, ‖z‖ and pick order."""

    def name(value: int) -> str:
        value = int(value)
        return (
            plain(class_names[value])
            if class_names and 0 <= value < len(class_names)
            else str(value)
        )  # text from files: escaped

    pseudo = picked["pseudo"] if "pseudo" in picked.columns else picked["label"] * 0 - 1
    out = np.empty((len(picked), 5), dtype=object)
    out[:, 0] = picked["idx"].astype(int).tolist()
    out[:, 1] = [name(v) for v in picked["label"]]
    out[:, 2] = [name(v) if v >= 0 else "?" for v in pseudo]
    out[:, 3] = [f"{v:.2f}" for v in picked["znorm"]]
    out[:, 4] = (picked["order"].astype(int) + 1).tolist()
    return out


PICK_HOVER = (
    "#%{customdata[0]} · class %{customdata[1]} · predicted %{customdata[2]}<br>"
    "‖z‖ %{customdata[3]} · pick #%{customdata[4]}<extra></extra>"
)


def _add_picks(
    fig: go.Figure,
    picked: pd.DataFrame,
    colour_by: str,
    class_names: list[str] | None,
    row: int,
    col: int,
    *,
    first: bool,
) -> None:
    """Picks as a black ring (visible on every colouring, one legend entry) around a marker
    in the chosen colouring."""
    x, y = picked["x"].to_numpy(), picked["y"].to_numpy()
    data = _pick_hover(picked, class_names)
    fig.add_trace(
        go.Scattergl(
            x=x,
            y=y,
            mode="markers",
            name="picks (black ring)",
            legendgroup="picks",
            showlegend=first,
            hoverinfo="skip",
            marker={
                "size": 11,
                "color": "rgba(0,0,0,0)",
                "line": {"width": 2.2, "color": PICK_RING},
            },
        ),
        row=row,
        col=col,
    )
    outline = {"width": 0.6, "color": "white"}
    if colour_by in CATEGORICAL:
        for name, mask, colour in _categories(colour_by, picked, class_names):
            if not mask.any():
                continue
            fig.add_trace(
                go.Scattergl(
                    x=x[mask],
                    y=y[mask],
                    mode="markers",
                    name=name,
                    legendgroup=name,
                    showlegend=first,
                    customdata=data[mask],
                    hovertemplate=PICK_HOVER,
                    marker={"size": 7, "color": colour, "line": outline},
                ),
                row=row,
                col=col,
            )
        return
    values = picked["znorm"].to_numpy() if colour_by == "gamma" else picked["order"].to_numpy() + 1
    fig.add_trace(
        go.Scattergl(
            x=x,
            y=y,
            mode="markers",
            showlegend=False,
            customdata=data,
            hovertemplate=PICK_HOVER,
            marker={"size": 7, "color": values, "coloraxis": "coloraxis", "line": outline},
        ),
        row=row,
        col=col,
    )
