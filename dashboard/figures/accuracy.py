"""Accuracy views: selectors x budgets (Tables 2-4) and the Table 1 decomposition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.base.validation import check_columns
from dashboard.figures.style import base_layout, empty_figure, flat_range, method_color

BUDGET_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
BUDGET_SYMBOLS = ("circle", "diamond", "square", "triangle-up", "x", "star")
SPLIT_TITLES = {
    "selected_train": "selected train",
    "unselected_train": "unselected train",
    "val": "validation",
    "test": "test",
}


def accuracy_figure(
    summary: pd.DataFrame,
    *,
    split_label: str = "test",
    before: float | None = None,
    height: int = 420,
) -> go.Figure:
    """Accuracy (%) per selector (x), one marker series per budget, error bars = std over seeds.

    ``before`` (0..1), when given, is drawn as a dashed line: the source model before adaptation.
    """
    check_columns("summary", summary, ("method", "budget", "mean", "std"))
    if summary.empty:
        return empty_figure("No accuracy yet: finish at least one run.")
    methods = list(dict.fromkeys(summary["method"]))
    budgets = sorted(set(summary["budget"]))
    fig = go.Figure()
    for position, budget in enumerate(budgets):
        part = summary[summary["budget"] == budget].set_index("method").reindex(methods)
        fig.add_trace(
            go.Scatter(
                x=methods,
                y=100 * part["mean"],
                mode="markers",
                name=f"budget {100 * budget:g}%",
                error_y={"type": "data", "array": 100 * part["std"].fillna(0.0), "visible": True},
                marker={
                    "size": 11,
                    "color": BUDGET_COLORS[position % len(BUDGET_COLORS)],
                    "symbol": BUDGET_SYMBOLS[position % len(BUDGET_SYMBOLS)],
                },
                hovertemplate=f"%{{x}}, budget {100 * budget:g}%: %{{y:.2f}}%<extra></extra>",
            )
        )
    if before is not None and np.isfinite(before):
        fig.add_hline(
            y=100 * before,
            line={"dash": "dash", "color": "#888888"},
            annotation_text="source model, before adaptation",
            annotation_position="top right",  # above the line, clear of the tick labels
        )
    fig.update_layout(showlegend=True)  # even for a single budget: say which budget it is
    fig.update_xaxes(title_text="selector", type="category")
    fig.update_yaxes(
        title_text=f"{split_label} accuracy after adaptation (%)",
        range=flat_range(100 * summary["mean"], percent=True),  # equal values: not stretched
    )
    return base_layout(fig, height=height)


def decomposition_figure(decomp: pd.DataFrame, *, height: int = 420) -> go.Figure:
    """Table 1 as grouped bars: accuracy per split, one bar per selector, error bars = std."""
    check_columns("decomposition", decomp, ("method", "split", "mean", "std"))
    if decomp.empty:
        return empty_figure("No decomposition yet: finish at least one run.")
    fig = go.Figure()
    for position, (method, part) in enumerate(decomp.groupby("method", sort=False)):
        part = part.assign(split=part["split"].astype(str))
        order = [s for s in SPLIT_TITLES if s in set(part["split"])]
        part = part.set_index("split").loc[order]
        fig.add_trace(
            go.Bar(
                x=[SPLIT_TITLES[s] for s in order],
                y=100 * part["mean"],
                name=method,
                error_y={"type": "data", "array": 100 * part["std"].fillna(0.0), "visible": True},
                marker_color=method_color(method, position),
                hovertemplate=f"{method}<br>%{{x}}: %{{y:.2f}}%<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="split")
    fig.update_yaxes(title_text="accuracy after adaptation (%)")
    return base_layout(fig, height=height)
