"""Selections on a 2-D map of the pool (UMAP of z, BADGE or FORGE embeddings), small multiples.

Every panel shows the whole pool faintly and one selector's picks on top, so the reader sees
where each selector spends its budget: in dense regions, on the fringe, on misclassified or
high-|z| samples.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.base.validation import check_choice, check_columns
from dashboard.figures.style import (
    BACKGROUND_POINT,
    GAMMA_SCALE,
    ORDER_SCALE,
    base_layout_dict,
    class_color,
    empty_figure,
    plain,
    subplot_axes,
    subplot_grid,
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
    Selected markers carry the pool idx as customdata. The figure is assembled as one dict and
    validated once (``style.subplot_grid``): every change of the UMAP page rebuilds it.
    """
    check_choice("colour_by", colour_by, COLOUR_BY)
    check_columns("points", points, MAP_FIELDS)
    if points.empty or not selections:
        return empty_figure("Nothing to draw: pick at least one selector with finished runs.")
    names = list(selections)
    cols = grid_columns(len(names), columns)
    rows = math.ceil(len(names) / cols)
    layout = subplot_grid(
        [f"<b>{name}</b> · {len(selections[name])} picks" for name in names],
        rows,
        cols,
        horizontal_spacing=0.03,
        vertical_spacing=0.08 if rows > 1 else 0.0,
        shared=False,
    )
    by_idx = points.set_index("idx")
    background = _background(points, colour_by, class_names)
    traces: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        xaxis, yaxis = subplot_axes(i // cols + 1, i % cols + 1, cols)
        chosen = selections[name]
        picked = by_idx.loc[chosen["idx"].to_numpy()].reset_index()
        picked["order"] = chosen["order"].to_numpy()
        panel = [*background, *_picks(picked, colour_by, class_names, first=i == 0)]
        traces += [{**trace, "xaxis": xaxis, "yaxis": yaxis} for trace in panel]
    for key in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        layout[key].update(showticklabels=False, showgrid=False, zeroline=False)
    if colour_by == "gamma":
        low, high = float(points["znorm"].min()), float(points["znorm"].max())
        layout["coloraxis"] = {
            "colorscale": GAMMA_SCALE,
            "cmin": low,
            "cmax": high,
            **_colorbar("‖z‖"),
        }
    elif colour_by == "pick order":
        last = max(int(s["order"].max()) + 1 if len(s) else 1 for s in selections.values())
        layout["coloraxis"] = {
            "colorscale": ORDER_SCALE,
            "cmin": 1,
            "cmax": last,
            **_colorbar("pick #"),
        }
    layout.update(
        base_layout_dict(
            height=panel_height * rows + 80,
            title=f"Selections on the UMAP of {space_label}" if space_label else None,
        )
    )
    layout.update(dragmode="zoom", clickmode="event+select", showlegend=True)  # click picks
    layout["legend"]["y"] = -0.12 if rows > 1 else -0.2
    return go.Figure(data=traces, layout=layout)  # one validation of the whole figure


def grid_columns(n_panels: int, most: int = 3) -> int:
    """Columns of the small-multiples grid: one row up to ``most``, 2 x 2 for four panels."""
    if n_panels == 4 and most >= 2:
        return 2
    return max(1, min(most, n_panels))


def _colorbar(title: str) -> dict:
    return {"colorbar": {"title": {"text": title}, "thickness": 14}}


def _background(
    points: pd.DataFrame, colour_by: str, class_names: list[str] | None
) -> list[dict[str, Any]]:
    """The whole pool, faint, drawn under every panel (float32: half the bytes, and all a
    screen can show): one trace per category for a categorical colouring."""
    x, y = points["x"].to_numpy(np.float32), points["y"].to_numpy(np.float32)
    common = {"type": "scattergl", "mode": "markers", "showlegend": False, "hoverinfo": "skip"}
    if colour_by in CATEGORICAL:
        return [
            {
                **common,
                "x": x[mask],
                "y": y[mask],
                "marker": {"size": 4, "color": colour, "opacity": 0.3},
            }
            for _name, mask, colour in _categories(colour_by, points, class_names)
        ]
    if colour_by == "gamma":  # faint, on the same scale: where the high-|z| samples are
        marker = {
            "size": 4,
            "color": points["znorm"].to_numpy(np.float32),
            "coloraxis": "coloraxis",
            "opacity": 0.25,
        }
    else:
        marker = {"size": 4, "color": BACKGROUND_POINT, "opacity": 0.7}
    return [{**common, "x": x, "y": y, "marker": marker}]


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


def _picks(
    picked: pd.DataFrame,
    colour_by: str,
    class_names: list[str] | None,
    *,
    first: bool,
) -> list[dict[str, Any]]:
    """Picks as a black ring (visible on every colouring, one legend entry) around a marker
    in the chosen colouring (categorical: one trace per category, so that a legend entry
    shows or hides that category's picks on every panel)."""
    x, y = picked["x"].to_numpy(np.float32), picked["y"].to_numpy(np.float32)
    data = _pick_hover(picked, class_names)
    traces: list[dict[str, Any]] = [
        {
            "type": "scattergl",
            "x": x,
            "y": y,
            "mode": "markers",
            "name": "picks (black ring)",
            "legendgroup": "picks",
            "showlegend": first,
            "hoverinfo": "skip",
            "marker": {
                "size": 11,
                "color": "rgba(0,0,0,0)",
                "line": {"width": 2.2, "color": PICK_RING},
            },
        }
    ]
    outline = {"width": 0.6, "color": "white"}
    common = {"type": "scattergl", "mode": "markers", "hovertemplate": PICK_HOVER}
    if colour_by in CATEGORICAL:
        for name, mask, colour in _categories(colour_by, picked, class_names):
            if mask.any():
                traces.append(
                    {
                        **common,
                        "x": x[mask],
                        "y": y[mask],
                        "name": name,
                        "legendgroup": name,
                        "showlegend": first,
                        "customdata": data[mask],
                        "marker": {"size": 7, "color": colour, "line": outline},
                    }
                )
        return traces
    values = picked["znorm"].to_numpy() if colour_by == "gamma" else picked["order"].to_numpy() + 1
    traces.append(
        {
            **common,
            "x": x,
            "y": y,
            "showlegend": False,
            "customdata": data,
            "marker": {"size": 7, "color": values, "coloraxis": "coloraxis", "line": outline},
        }
    )
    return traces
