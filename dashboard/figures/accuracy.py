"""Accuracy views: selectors x budgets (Tables 2-4) and the Table 1 decomposition."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.validation import ForgeLensError
from dashboard.figures.style import base_layout, empty_figure, method_color

SPLIT_TITLES = {
    "selected_train": "selected train",
    "unselected_train": "unselected train",
    "val": "validation",
    "test": "test",
}


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ForgeLensError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")


def accuracy_figure(summary: pd.DataFrame, *, split_label: str = "test",
                    height: int = 420) -> go.Figure:
    """Accuracy (%) against budget (% of the pool), one line per selector, error bars = std."""
    _require(summary, "summary", ("method", "budget", "mean", "std"))
    if summary.empty:
        return empty_figure("No accuracy yet: finish at least one run.")
    fig = go.Figure()
    for position, (method, part) in enumerate(summary.groupby("method", sort=False)):
        part = part.sort_values("budget")
        fig.add_trace(go.Scatter(
            x=100 * part["budget"], y=100 * part["mean"], mode="lines+markers", name=method,
            error_y={"type": "data", "array": 100 * part["std"].fillna(0.0), "visible": True},
            line={"color": method_color(method, position), "width": 2.5 if method == "forge"
                  else 1.5}, marker={"size": 8},
            hovertemplate=f"{method}<br>budget %{{x:g}}%<br>accuracy %{{y:.2f}}%<extra></extra>",
        ))
    fig.update_xaxes(title_text="labelling budget (% of the target pool)")
    fig.update_yaxes(title_text=f"{split_label} accuracy after adaptation (%)")
    return base_layout(fig, height=height)


def decomposition_figure(decomp: pd.DataFrame, *, height: int = 420) -> go.Figure:
    """Table 1 as grouped bars: accuracy per split, one bar per selector, error bars = std."""
    _require(decomp, "decomposition", ("method", "split", "mean", "std"))
    if decomp.empty:
        return empty_figure("No decomposition yet: finish at least one run.")
    fig = go.Figure()
    for position, (method, part) in enumerate(decomp.groupby("method", sort=False)):
        part = part.assign(split=part["split"].astype(str))
        order = [s for s in SPLIT_TITLES if s in set(part["split"])]
        part = part.set_index("split").loc[order]
        fig.add_trace(go.Bar(
            x=[SPLIT_TITLES[s] for s in order], y=100 * part["mean"], name=method,
            error_y={"type": "data", "array": 100 * part["std"].fillna(0.0), "visible": True},
            marker_color=method_color(method, position),
            hovertemplate=f"{method}<br>%{{x}}: %{{y:.2f}}%<extra></extra>",
        ))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="split")
    fig.update_yaxes(title_text="accuracy after adaptation (%)")
    return base_layout(fig, height=height)
