"""Teaching view: k-center greedy pick by pick on BADGE and FORGE embeddings of a 2-D toy pool.

Panels draw the exact 2-D image of each embedding space (``core.analysis.toy.plane_coordinates``),
the
first k picks numbered, a coverage circle of the current radius around every pick (k-center
greedy minimises that radius), and the next pick: the sample farthest from all picks.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.base.validation import ForgeLensError, check_int_range
from dashboard.figures.style import GAMMA_SCALE, base_layout, method_color, space_title

PICK_COLOR = "#d62728"
LABELLED_PICKS = 8  # only the newest picks carry their number: 40 numbers would pile up


def teaching_figure(
    planes: dict[str, pd.DataFrame], walks: dict[str, pd.DataFrame], k: int, *, height: int = 520
) -> go.Figure:
    """Side-by-side panels, one per space in ``planes`` (keys also index ``walks``).

    ``planes[space]``: idx, u, v (2-D image of the embedding), znorm, high.
    ``walks[space]``: step, idx, radius, high (``core.analysis.toy.kcenter_walk``), at least k rows.
    """
    spaces = list(planes)
    if not spaces or set(spaces) - set(walks):
        raise ForgeLensError(f"planes={spaces} and walks={list(walks)} must name the same spaces")
    k = check_int_range("k", k, 1, min(len(w) for w in walks.values()))
    titles = []
    for space in spaces:
        walk = walks[space].iloc[:k]
        titles.append(
            f"<b>{space_title(space)} embedding</b><br><sup>{k} picks · "
            f"{int(walk['high'].sum())} high-variability · coverage radius "
            f"{walk['radius'].iloc[-1]:.3g}</sup>"
        )
    fig = make_subplots(rows=1, cols=len(spaces), subplot_titles=titles, horizontal_spacing=0.08)
    zmin = min(float(p["znorm"].min()) for p in planes.values())
    zmax = max(float(p["znorm"].max()) for p in planes.values())
    for col, space in enumerate(spaces, start=1):
        plane, walk = planes[space].set_index("idx"), walks[space]
        shown = walk.iloc[:k]
        for high, name, symbol in (
            (False, "low-variability sample (circle)", "circle"),
            (True, "high-variability sample (diamond)", "diamond"),
        ):
            part = plane[plane["high"].astype(bool) == high]
            fig.add_trace(
                go.Scatter(
                    x=part["u"],
                    y=part["v"],
                    mode="markers",
                    name=name,
                    showlegend=col == 1,
                    customdata=part.index.to_numpy(),
                    legendgroup=name,
                    marker={
                        "size": 7,
                        "color": part["znorm"],
                        "coloraxis": "coloraxis",
                        "symbol": symbol,
                        "line": {"width": 0},
                    },
                    hovertemplate="sample %{customdata}<br>‖z‖ %{marker.color:.2f}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        picked = plane.loc[shown["idx"].to_numpy()]
        radius = float(shown["radius"].iloc[-1])
        axis = "" if col == 1 else str(col)
        for u, v in zip(picked["u"], picked["v"], strict=True):
            fig.add_shape(
                type="circle",
                xref=f"x{axis}",
                yref=f"y{axis}",
                x0=u - radius,
                x1=u + radius,
                y0=v - radius,
                y1=v + radius,
                line={"color": PICK_COLOR, "width": 1},
                opacity=0.35,
            )
        labels = [str(step) if step > k - LABELLED_PICKS else "" for step in shown["step"]]
        fig.add_trace(
            go.Scatter(
                x=picked["u"],
                y=picked["v"],
                mode="markers+text",
                name="picks (newest numbered)",
                text=labels,
                textposition="top center",
                customdata=shown["step"].to_numpy(),
                textfont={"color": PICK_COLOR, "size": 12},
                showlegend=col == 1,
                marker={
                    "size": 11,
                    "symbol": "circle-open",
                    "color": PICK_COLOR,
                    "line": {"width": 2, "color": PICK_COLOR},
                },
                hovertemplate="pick %{customdata}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        if len(walk) > k:
            nxt = plane.loc[[int(walk["idx"].iloc[k])]]
            fig.add_trace(
                go.Scatter(
                    x=nxt["u"],
                    y=nxt["v"],
                    mode="markers",
                    name="next pick (farthest sample)",
                    showlegend=col == 1,
                    hovertemplate="next pick<extra></extra>",
                    marker={
                        "size": 16,
                        "symbol": "x-thin",
                        "color": "#111111",
                        "line": {"width": 3, "color": "#111111"},
                    },
                ),
                row=1,
                col=col,
            )
        high = plane[plane["high"].astype(bool)]
        if len(high):
            fig.add_annotation(
                x=float(high["u"].median()),
                y=float(high["v"].median()),
                xref=f"x{axis}",
                yref=f"y{axis}",
                text="high-variability cluster",
                showarrow=True,
                arrowhead=2,
                ax=50,
                ay=-45,
                font={"size": 12, "color": "#333333"},
                bgcolor="rgba(255,255,255,0.8)",
            )
        fig.update_xaxes(
            title_text="embedding coordinate 1",
            row=1,
            col=col,
            zeroline=True,
            zerolinecolor="#dddddd",
        )
        fig.update_yaxes(
            title_text="embedding coordinate 2" if col == 1 else None,
            row=1,
            col=col,
            scaleanchor=f"x{axis}",
            scaleratio=1,
            zeroline=True,
            zerolinecolor="#dddddd",
        )
    fig.update_layout(
        coloraxis={
            "colorscale": GAMMA_SCALE,
            "cmin": zmin,
            "cmax": zmax,
            "colorbar": {"title": {"text": "‖z‖"}, "thickness": 14},
        }
    )
    base_layout(fig, height=height)
    fig.update_layout(margin={"t": 90}, legend={"yanchor": "top", "y": -0.15})
    return fig


def high_picks_figure(walks: dict[str, pd.DataFrame], k: int, *, height: int = 300) -> go.Figure:
    """High-variability samples picked so far against the number of picks, per space."""
    fig = go.Figure()
    for space, walk in walks.items():
        fig.add_trace(
            go.Scatter(
                x=walk["step"],
                y=walk["high"].cumsum(),
                mode="lines",
                name=space_title(space),
                line={"color": method_color(space), "width": 2.5, "shape": "hv"},
                hovertemplate=f"{space_title(space)}: %{{y}} after %{{x}} picks<extra></extra>",
            )
        )
    fig.add_vline(x=k, line={"color": "#888888", "dash": "dot"})
    fig.update_xaxes(title_text="picks so far")
    fig.update_yaxes(title_text="high-variability picks")
    return base_layout(fig, height=height)
