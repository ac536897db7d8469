"""Comparing selectors: overlap of their picks, their class mix, and per-class coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.base.validation import check_columns
from dashboard.figures.style import base_layout, empty_figure, method_color, plain


def _class_name(label: int, class_names: list[str] | None) -> str:
    if class_names and 0 <= label < len(class_names):
        return plain(class_names[label])
    return str(label)


def jaccard_figure(matrix: pd.DataFrame, *, height: int = 440) -> go.Figure:
    """Heatmap of the Jaccard overlap between selectors' picks (1 = identical selections)."""
    if matrix.empty:
        return empty_figure("No selections to compare.")
    values = matrix.to_numpy(np.float64)
    text = np.where(np.isnan(values), "–", np.char.mod("%.2f", np.nan_to_num(values)))
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=list(matrix.columns),
            y=list(matrix.index),
            zmin=0.0,
            zmax=1.0,
            colorscale="Blues",
            text=text,
            texttemplate="%{text}",
            colorbar={"title": {"text": "Jaccard"}, "thickness": 14},
            hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="selector")
    fig.update_xaxes(title_text="selector", side="bottom")
    return base_layout(fig, height=height)


def class_histogram_figure(
    histogram: pd.DataFrame,
    class_names: list[str] | None = None,
    *,
    height: int = 420,
    axis_title: str = "true class",
) -> go.Figure:
    """Share of each selection per class (bars) against the pool's share (black markers)."""
    check_columns("histogram", histogram, ("method", "label", "fraction"))
    if histogram.empty:
        return empty_figure("No selections to compare.")
    fig = go.Figure()
    position = 0
    for method, part in histogram.groupby("method", sort=False):
        x = [_class_name(int(v), class_names) for v in part["label"]]
        if method == "pool":
            continue
        fig.add_trace(
            go.Bar(
                x=x,
                y=100 * part["fraction"],
                name=method,
                marker_color=method_color(method, position),
                hovertemplate=f"{method}<br>%{{x}}: %{{y:.1f}}%<extra></extra>",
            )
        )
        position += 1
    pool = histogram[histogram["method"] == "pool"]
    if not pool.empty:
        fig.add_trace(
            go.Scatter(
                x=[_class_name(int(v), class_names) for v in pool["label"]],
                y=100 * pool["fraction"],
                mode="markers",
                name="pool",
                marker={"symbol": "line-ew", "size": 34, "line": {"width": 3, "color": "#111"}},
                hovertemplate="pool<br>%{x}: %{y:.1f}%<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=axis_title, type="category")
    fig.update_yaxes(title_text="share of the selection (%)")
    return base_layout(fig, height=height)


def coverage_figure(
    coverage: pd.DataFrame, class_names: list[str] | None = None, *, height: int = 400
) -> go.Figure:
    """Heatmap selector x class: share of unselected samples whose nearest pick has their label."""
    check_columns("coverage", coverage, ("method", "label", "coverage"))
    if coverage.empty:
        return empty_figure("No pairs to measure coverage with.")
    table = coverage.pivot(index="method", columns="label", values="coverage")
    table = table.reindex(list(dict.fromkeys(coverage["method"])))
    values = table.to_numpy(np.float64)
    text = np.where(np.isnan(values), "–", np.char.mod("%.2f", np.nan_to_num(values)))
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=[_class_name(int(c), class_names) for c in table.columns],
            y=list(table.index),
            zmin=0.0,
            zmax=1.0,
            colorscale="Greens",
            text=text,
            texttemplate="%{text}",
            colorbar={"title": {"text": "covered"}, "thickness": 14},
            hovertemplate="%{y}, class %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="selector")
    fig.update_xaxes(title_text="true class", type="category")
    return base_layout(fig, height=height)
