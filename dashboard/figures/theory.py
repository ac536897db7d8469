"""Theory view: Theorem 4's bound against the observed gap (both terms apart), how often it and
its first-order term alone hold, the full-network tangent norm against FORGE's |z| proxy, and
Proposition 2's decomposition per selector. Pure: DataFrames in, figures out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.base.validation import ForgeLensError
from dashboard.figures.style import LOG_AXIS, base_layout, empty_figure
from dashboard.stats import correlation

HOLD_COLOR, FAIL_COLOR = "#1f77b4", "#d62728"

# which of Theorem 4's assumptions a run meets, by (adaptation mode, loss)
ASSUMPTIONS = {
    ("head", "mse"): "Exact regime: only the last linear layer trains, so the model is exactly "
    "linear in the trained parameters, and the loss is the MSE the theorem "
    "assumes. The bound must hold on every pair; a violation would be a bug.",
    ("head", "ce"): "Linear in the trained parameters (last layer only), but the loss is "
    "cross-entropy, not the theorem's MSE: the bound is not guaranteed.",
    ("full", "mse"): "MSE loss, but every layer trains, so the model is not linear in the trained "
    "parameters; the terms shown are the last layer's: a diagnostic only.",
    ("full", "ce"): "Neither assumption holds (every layer trains, cross-entropy loss); the terms "
    "shown are the last layer's: a diagnostic of the last-layer linearisation.",
}
_NEEDED = ("signed_gap", "first_order", "second_order", "bound")


def has_theorem_terms(pairs: pd.DataFrame) -> bool:
    """Whether a run's pairs carry Theorem 4's terms (runs recorded before they were stored
    do not)."""
    return all(column in pairs.columns for column in _NEEDED)


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ForgeLensError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")


def _positive(values: pd.Series) -> np.ndarray:
    return np.clip(values.to_numpy(np.float64), 1e-12, None)


def bound_figure(pairs: pd.DataFrame, *, height: int = 460) -> go.Figure:
    """Two log-log panels for one run's pairs in one space: the signed gap r(x) − r(x′) against
    (a) the first-order term alone and (b) the second-order term, each with the line y = x.
    Points above the line in (a) are pairs the first-order term alone does not bound. Pairs
    with a gap ≤ 0 hold trivially and cannot be drawn on a log axis; the titles count them."""
    _require(pairs, "pairs", _NEEDED)
    if pairs.empty:
        return empty_figure("No pairs with theorem terms in these runs.")
    positive = pairs[pairs["signed_gap"] > 0]
    n, n_pos = len(pairs), len(positive)
    first_fail = int((pairs["signed_gap"] > pairs["first_order"]).sum())
    bound_fail = int((pairs["signed_gap"] > pairs["bound"]).sum())
    ratio = float(np.median(pairs["second_order"] / pairs["first_order"].clip(lower=1e-12)))
    titles = [
        f"<b>(a) gap vs first-order term</b><br>above the line: {first_fail} of {n} pairs "
        f"({100 * first_fail / n:.1f}%)",
        f"<b>(b) gap vs second-order term</b><br>whole bound fails on {bound_fail} of {n}; "
        f"second / first term: median {ratio:,.0f}×",
    ]
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.09)
    gap = _positive(positive["signed_gap"])
    for col, term in enumerate(("first_order", "second_order"), start=1):
        x = _positive(positive[term])
        over = gap > (x if term == "first_order" else _positive(positive["bound"]))
        for mask, color, name in (
            (~over, HOLD_COLOR, "bounded"),
            (over, FAIL_COLOR, "not bounded"),
        ):
            fig.add_trace(
                go.Scattergl(
                    x=x[mask],
                    y=gap[mask],
                    mode="markers",
                    name=name,
                    showlegend=col == 1,
                    legendgroup=name,
                    marker={"size": 4, "opacity": 0.6, "color": color},
                    hovertemplate="term %{x:.3g}<br>gap %{y:.3g}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        if len(x):
            low = float(min(x.min(), gap.min()))
            high = float(max(x.max(), gap.max()))
            fig.add_trace(
                go.Scatter(
                    x=[low, high],
                    y=[low, high],
                    mode="lines",
                    name="gap = term",
                    showlegend=col == 1,
                    line={"color": "#444", "dash": "dash", "width": 1.5},
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="‖∇ℓ(x) − ∇ℓ(x′)‖ · ‖Δθ‖", row=1, col=1)
    fig.update_xaxes(title_text="2 · max(‖J(x)‖, ‖J(x′)‖)² · ‖Δθ‖²", row=1, col=2)
    fig.update_xaxes(type="log", **LOG_AXIS)  # 10^-4, never the SI "100µ"
    fig.update_yaxes(type="log", **LOG_AXIS)
    fig.update_yaxes(title_text=f"r(x) − r(x′), the {n_pos} pairs with gap > 0", row=1, col=1)
    fig.update_annotations(font_size=12.5)
    base_layout(fig, height=height)
    fig.update_layout(margin={"t": 90}, legend={"yanchor": "top", "y": -0.2})
    return fig


def holds_figure(theory: pd.DataFrame, *, height: int = 380) -> go.Figure:
    """Per selector: the share of pairs where the whole bound and the first-order term alone
    hold (mean over the runs given, whiskers from the lowest to the highest run)."""
    _require(theory, "theory", ("method", "bound_holds_fraction", "first_order_holds_fraction"))
    part = theory.dropna(subset=["bound_holds_fraction"])
    if part.empty:
        return empty_figure("These runs have no theorem columns: rerun them to record them.")
    fig = go.Figure()
    methods = list(dict.fromkeys(part["method"]))
    for column, name, color in (
        ("bound_holds_fraction", "whole bound", HOLD_COLOR),
        ("first_order_holds_fraction", "first-order term alone", "#ff7f0e"),
    ):
        stats = part.groupby("method", sort=False)[column].agg(["mean", "min", "max"])
        stats = stats.reindex(methods)
        fig.add_trace(
            go.Bar(
                x=methods,
                y=100 * stats["mean"],
                name=name,
                marker_color=color,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": 100 * (stats["max"] - stats["mean"]),
                    "arrayminus": 100 * (stats["mean"] - stats["min"]),
                },
                hovertemplate="%{x}: %{y:.2f}%<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis={
            "title": "pairs where it holds (%)",
            "range": [0, 100.5],  # bars of a percentage start at 0
        },
        xaxis={"title": "selector"},
    )
    return base_layout(fig, height=height)


def proxy_figure(samples: pd.DataFrame, *, height: int = 420) -> go.Figure:
    """Each pool sample: FORGE's proxy |z| against the full-network tangent-feature norm
    |∇θ f(x)| over every layer, with both correlations in the title."""
    _require(samples, "samples", ("znorm",))
    if "tangent_norm_full" not in samples:  # runs recorded before the column existed
        samples = samples.assign(tangent_norm_full=np.nan)
    part = samples.dropna(subset=["tangent_norm_full"])
    if part.empty:
        return empty_figure(
            "No full-network tangent norms for these runs yet: a sweep computes them beside "
            "its runs and stores them once per pool (pretrained backbones have none)."
        )
    c = correlation(part["znorm"], part["tangent_norm_full"])
    fig = go.Figure(
        go.Scattergl(
            x=part["znorm"],
            y=part["tangent_norm_full"],
            mode="markers",
            marker={"size": 4, "opacity": 0.5, "color": "#555"},
            hovertemplate="‖z‖ %{x:.3g}<br>‖∇θ f(x)‖ %{y:.3g}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="‖z‖ (FORGE's last-layer proxy)")
    fig.update_yaxes(title_text="‖∇θ f(x)‖ over all layers")
    return base_layout(fig, height=height, title=f"{c.label()}")


PROPOSITION_TERMS = (
    ("weighted_train_loss_reduction", "(1) weighted training loss reduction", "#2ca02c"),
    ("neg_max_gap_term", "(2) − (N − |s|)/N · max gap", "#d62728"),
    ("generalisation_gap", "(3) generalisation gap", "#9467bd"),
)


def proposition2_figure(theory: pd.DataFrame, *, height: int = 420) -> go.Figure:
    """Per selector, Proposition 2's three terms (mean over the runs given) as bars, and the
    loss reduction on the target test set they bound from below as a marker."""
    _require(
        theory,
        "theory",
        ("method", "weighted_train_loss_reduction", "max_gap_term", "generalisation_gap", "test_r"),
    )
    part = theory.dropna(subset=["max_gap_term"])
    if part.empty:
        return empty_figure("These runs have no Proposition 2 columns: rerun them.")
    part = part.assign(neg_max_gap_term=-part["max_gap_term"])
    means = part.groupby("method", sort=False)[
        [t for t, _, _ in PROPOSITION_TERMS] + ["test_r"]
    ].mean()
    fig = go.Figure()
    for column, name, color in PROPOSITION_TERMS:
        fig.add_trace(
            go.Bar(
                x=means.index,
                y=means[column],
                name=name,
                marker_color=color,
                hovertemplate="%{x}: %{y:.3g}<extra>" + name + "</extra>",
            )
        )
    lower = means[[t for t, _, _ in PROPOSITION_TERMS]].sum(axis=1)
    fig.add_trace(
        go.Scatter(
            x=means.index,
            y=means["test_r"],
            mode="markers",
            name="mean r on target test (what is bounded)",
            marker={"symbol": "diamond", "size": 12, "color": "black"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=means.index,
            y=lower,
            mode="markers",
            name="(1) + (2) + (3)",
            marker={"symbol": "line-ew-open", "size": 22, "color": "black", "line": {"width": 3}},
        )
    )
    fig.update_layout(
        barmode="group", xaxis={"title": "selector"}, yaxis={"title": "loss reduction"}
    )
    return base_layout(fig, height=height)
