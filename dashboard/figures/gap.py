"""The paper's Figure 5: loss-reduction gap against embedding distance and feature norm.

Each panel scatters one x (distance to the nearest selected sample in a space, or the feature
norm gamma of the pair) against the gap |r(x) - r(x')| of every unselected sample x' and its
nearest selected x, coloured by gamma, with a binned mean trend and both correlations in the
panel title. The paper predicts: weak correlation in BADGE space (a), large gaps explained by
gamma (b), a strong correlation restored in FORGE space (c).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.validation import check_choice, check_columns
from dashboard.figures.style import GAMMA_SCALE, TREND_COLOR, base_layout, empty_figure, space_title
from dashboard.stats import Correlation, binned_mean, correlation, seed_interval_text

PAIR_FIELDS = ("space", "distance", "gap", "gamma")


@dataclass(frozen=True)
class GapPanel:
    """One panel: pairs of ``space`` plotted with ``x`` ("distance" or "gamma") against the gap."""

    space: str
    x: str = "distance"

    def title(self) -> str:
        if self.x == "gamma":
            return f"feature norm γ (pairs in {space_title(self.space)} space)"
        return f"distance in {space_title(self.space)} space"

    def axis_title(self) -> str:
        if self.x == "gamma":
            return "γ = max(‖z‖, ‖z′‖)"
        return f"‖φ(x) − φ(x′)‖, {space_title(self.space)}"


def figure5_panels(include_coreset: bool = False) -> list[GapPanel]:
    """(a) BADGE distance, (b) gamma of the BADGE pairs, (c) FORGE distance, [(d) CORESET]."""
    panels = [GapPanel("badge"), GapPanel("badge", "gamma"), GapPanel("forge")]
    if include_coreset:
        panels.append(GapPanel("coreset"))
    return panels


def panel_correlations(pairs: pd.DataFrame, panels: list[GapPanel]) -> list[Correlation]:
    """The correlation shown in each panel's title (x against gap over that space's pairs)."""
    out = []
    for panel in panels:
        part = pairs[pairs["space"] == panel.space]
        out.append(correlation(part[panel.x], part["gap"]))
    return out


def gap_figure(pairs: pd.DataFrame, panels: list[GapPanel] | None = None, *, bins: int = 12,
               log_y: bool = False, height: int = 470) -> go.Figure:
    """Scatter panels of ``pairs`` (the pairs table of one or several runs).

    Each point carries its row label in ``pairs.index`` as customdata, so a box or lasso
    selection maps back to pair rows (``dashboard.stats.selected_keys``).
    """
    panels = panels or figure5_panels()
    check_columns("pairs", pairs, PAIR_FIELDS)
    for panel in panels:
        check_choice("panel.x", panel.x, ("distance", "gamma"))
    if pairs.empty:
        return empty_figure("No pairs to show: pick a selector, budget and seeds with runs.")
    letters = "abcdefgh"
    correlations = panel_correlations(pairs, panels)
    titles = [f"<b>({letters[i]}) {p.title()}</b><br>{c.label()}<br>"
              + seed_interval_text(pairs[pairs["space"] == p.space], p.x)
              for i, (p, c) in enumerate(zip(panels, correlations, strict=True))]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=titles,
                        horizontal_spacing=0.06)
    gamma = pairs["gamma"].to_numpy(np.float64)
    cmin, cmax = (float(np.nanmin(gamma)), float(np.nanmax(gamma))) if len(gamma) else (0.0, 1.0)
    for col, panel in enumerate(panels, start=1):
        part = pairs[pairs["space"] == panel.space]
        x = part[panel.x].to_numpy(np.float64)
        y = part["gap"].to_numpy(np.float64)
        fig.add_trace(go.Scattergl(
            x=x, y=y, mode="markers", name=panel.title(), showlegend=False,
            customdata=part.index.to_numpy(),
            marker={"size": 4, "opacity": 0.55, "color": part["gamma"].to_numpy(np.float64),
                    "coloraxis": "coloraxis"},
            hovertemplate=(f"{panel.axis_title()}: %{{x:.3g}}<br>gap: %{{y:.3g}}"
                           "<br>row %{customdata}<extra></extra>"),
        ), row=1, col=col)
        trend = binned_mean(x, y, bins)
        fig.add_trace(go.Scattergl(  # WebGL as well, so the trend is drawn above the points
            x=trend["x"], y=trend["y"], mode="lines+markers", name="binned mean gap",
            line={"color": TREND_COLOR, "width": 3},
            marker={"size": 7, "color": TREND_COLOR, "line": {"width": 1, "color": "white"}},
            showlegend=col == 1, hovertemplate="bin mean gap: %{y:.3g}<extra></extra>",
        ), row=1, col=col)
        fig.update_xaxes(title_text=panel.axis_title(), row=1, col=col)
    fig.update_yaxes(title_text="loss-reduction gap |r(x) − r(x′)|", row=1, col=1)
    if log_y:  # gaps span decades; zeros cannot be drawn on a log axis and drop out
        fig.update_yaxes(type="log")
    fig.update_layout(
        coloraxis={"colorscale": GAMMA_SCALE, "cmin": cmin, "cmax": cmax,
                   "colorbar": {"title": {"text": "γ"}, "thickness": 14}},
        dragmode="select",
    )
    fig.update_annotations(font_size=12.5)
    base_layout(fig, height=height)
    fig.update_layout(margin={"t": 110}, legend={"yanchor": "top", "y": -0.2})
    return fig
