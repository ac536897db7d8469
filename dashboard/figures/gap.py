"""The paper's Figure 5: loss-reduction gap against embedding distance and feature norm.

Each panel scatters one x (distance to the nearest selected sample in a space, or the feature
norm gamma of the pair) against the gap |r(x) - r(x')| of every unselected sample x' and its
nearest selected x, coloured by gamma, with a binned mean trend and both correlations in the
panel title. The paper predicts: weak correlation in BADGE space (a), large gaps explained by
gamma (b), a strong correlation restored in FORGE space (c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.base.validation import check_choice, check_columns
from dashboard.figures.style import (
    DISTANCE_SCALE,
    GAMMA_SCALE,
    LOG_AXIS,
    TREND_COLOR,
    axis_key,
    base_layout_dict,
    empty_figure,
    plain,
    space_title,
    subplot_axes,
    subplot_grid,
)
from dashboard.stats import (
    Correlation,
    binned_mean,
    correlation,
    seed_interval_text,
    thinned_rows,
)

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

    def short_title(self) -> str:
        """A title that fits a quarter of the width: "BADGE distance", "γ (BADGE pairs)"."""
        if self.x == "gamma":
            return f"γ (pairs in {space_title(self.space)})"
        return f"{space_title(self.space)} distance"

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


def class_names_needed(class_names: list[str] | None) -> bool:
    """Whether hovers must carry class names as text: not when the names are the class codes
    (digits), so each point's hover data stays one small integer array."""
    return bool(class_names) and any(str(n) != str(i) for i, n in enumerate(class_names))


def _class_text(labels: np.ndarray, class_names: list[str]) -> np.ndarray:
    names = np.asarray([plain(name) for name in class_names], dtype=object)  # text from files
    inside = (labels >= 0) & (labels < len(names))
    return np.where(inside, names[np.clip(labels, 0, len(names) - 1)], labels.astype(str))


def _hover_data(part: pd.DataFrame) -> np.ndarray:
    """customdata per point, all integers: row key first (for selections), then x′, seed,
    nearest pick, class and prediction. Integer arrays reach the browser as one base64 typed
    array; mixed Python lists took seconds to copy, encode and parse at 25,000 points."""
    columns = [part.index.to_numpy()]
    for field in ("idx", "seed", "nn_idx", "label", "pseudo"):
        columns.append(part[field].to_numpy() if field in part.columns else np.full(len(part), -1))
    return np.column_stack(columns).astype(np.int32)


def _hover_text(part: pd.DataFrame, class_names: list[str]) -> np.ndarray:
    """Per point "class NAME, predicted NAME" (only where names are not the codes)."""
    labels = [
        _class_text(part[field].to_numpy(np.int64), class_names)
        if field in part.columns
        else np.full(len(part), "?", dtype=object)
        for field in ("label", "pseudo")
    ]
    return np.asarray([f"class {a}, predicted {b}" for a, b in zip(*labels, strict=True)])


def _hover(named: bool) -> str:
    classes = (
        "%{text}" if named else "class %{customdata[4]}, predicted %{customdata[5]}"
    ) + " (source model)"
    return (
        "x′ #%{customdata[1]} · seed %{customdata[2]}<br>"
        + classes
        + "<br>nearest pick x #%{customdata[3]}"
    )


def gap_figure(
    pairs: pd.DataFrame,
    panels: list[GapPanel] | None = None,
    *,
    bins: int = 12,
    log_y: bool = False,
    height: int | None = None,
    by: str | None = None,
    class_names: list[str] | None = None,
    order: list | None = None,
    max_points: int | None = None,
) -> go.Figure:
    """Scatter panels of ``pairs`` (the pairs table of one or several runs).

    Each point carries its row label in ``pairs.index`` as the first customdata entry, so a
    click, box or lasso selection maps back to pair rows (``dashboard.stats.selected_keys``);
    the hover names the sample, its class and prediction, the seed and its nearest pick.
    ``by`` (e.g. "method") draws one row of panels per value (in ``order`` when given), all
    rows sharing their axes.
    Points are coloured by gamma, except the gamma panel (b), coloured by the distance in its
    space (its x axis already is gamma). ``max_points``: draw at most this many points per
    panel (``dashboard.stats.thinned_rows``: every large gap, a sample of the rest); the
    correlations and trends always use every pair.
    """
    panels = panels or figure5_panels()
    check_columns("pairs", pairs, PAIR_FIELDS)
    for panel in panels:
        check_choice("panel.x", panel.x, ("distance", "gamma"))
    if pairs.empty:
        return empty_figure("No pairs to show: pick a selector, budget and seeds with runs.")
    groups = [(None, pairs)] if by is None else list(pairs.groupby(by, sort=False))
    if order is not None:
        rank = {value: i for i, value in enumerate(order)}
        groups.sort(key=lambda group: rank.get(group[0], len(rank)))
    letters = "abcdefgh"
    titles = []
    for value, part in groups:
        for i, (p, c) in enumerate(zip(panels, panel_correlations(part, panels), strict=True)):
            head = f"({letters[i]}) {p.short_title()}"
            if value is not None and i == 0:  # the row's selector, once: titles stay short
                head = f"{value}: {head}"
            seeds = seed_interval_text(part[part["space"] == p.space], p.x)
            seeds = seeds.replace(" · mean", "<br>mean")  # the interval on its own line
            titles.append(
                f"<b>{head}</b><br><span style='font-size:11px'>{c.short_label()}"
                + (f"<br>{seeds}" if seeds else "")
                + "</span>"
            )
    cols = len(panels)
    layout = subplot_grid(
        titles,
        len(groups),
        cols,
        horizontal_spacing=0.05 if cols > 3 else 0.06,
        vertical_spacing=0.16,
    )
    traces: list[dict[str, Any]] = []
    gamma = pairs["gamma"].to_numpy(np.float64)
    cmin, cmax = (float(np.nanmin(gamma)), float(np.nanmax(gamma))) if len(gamma) else (0.0, 1.0)
    gamma_panel_distance = None
    named = class_names_needed(class_names)
    for row, (_value, group) in enumerate(groups, start=1):
        for col, panel in enumerate(panels, start=1):
            xaxis, yaxis = subplot_axes(row, col, cols)
            everything = group[group["space"] == panel.space]
            x = everything[panel.x].to_numpy(np.float64)
            y = everything["gap"].to_numpy(np.float64)
            part = everything.iloc[thinned_rows(y, max_points)]
            by_distance = panel.x == "gamma"
            if by_distance:
                gamma_panel_distance = panel.space
            points = {
                "type": "scattergl",  # float32: half the bytes, and all a screen can show
                "x": part[panel.x].to_numpy(np.float32),
                "y": part["gap"].to_numpy(np.float32),
                "mode": "markers",
                "name": panel.title(),
                "showlegend": False,
                "customdata": _hover_data(part),
                "marker": {
                    "size": 4,
                    "opacity": 0.55,
                    "color": part["distance" if by_distance else "gamma"].to_numpy(np.float32),
                    "coloraxis": "coloraxis2" if by_distance else "coloraxis",
                },
                "hovertemplate": (
                    f"{_hover(named)}<br>{panel.axis_title()}: %{{x:.3g}}<br>gap: "
                    "%{y:.3g}<extra></extra>"
                ),
                "xaxis": xaxis,
                "yaxis": yaxis,
            }
            if named:
                points["text"] = _hover_text(part, class_names)
            trend = binned_mean(x, y, bins)
            traces += [
                points,
                {
                    "type": "scattergl",  # WebGL as well, so the trend is drawn above the points
                    "x": trend["x"],
                    "y": trend["y"],
                    "mode": "lines+markers",
                    "name": "binned mean gap",
                    "line": {"color": TREND_COLOR, "width": 3},
                    "marker": {
                        "size": 7,
                        "color": TREND_COLOR,
                        "line": {"width": 1, "color": "white"},
                    },
                    "showlegend": row == 1 and col == 1,
                    "hovertemplate": "bin mean gap: %{y:.3g}<extra></extra>",
                    "xaxis": xaxis,
                    "yaxis": yaxis,
                },
            ]
            if row == len(groups):
                layout[axis_key(xaxis)]["title"] = {"text": panel.axis_title()}
            if col == 1:
                layout[axis_key(yaxis)]["title"] = {"text": "gap |r(x) − r(x′)|"}
    if log_y:  # gaps span decades; zeros cannot be drawn on a log axis and drop out
        for key in [k for k in layout if k.startswith("yaxis")]:
            layout[key].update(type="log", **LOG_AXIS)
    layout["coloraxis"] = {
        "colorscale": GAMMA_SCALE,
        "cmin": cmin,
        "cmax": cmax,
        "colorbar": {"title": {"text": "γ"}, "thickness": 12, "x": 1.01, "len": 0.9},
    }
    if gamma_panel_distance is not None:
        distance = pairs.loc[pairs["space"] == gamma_panel_distance, "distance"]
        layout["coloraxis2"] = {
            "colorscale": DISTANCE_SCALE,
            "cmin": float(distance.min()),
            "cmax": float(distance.max()),
            "colorbar": {
                "title": {"text": f"{space_title(gamma_panel_distance)}<br>distance"},
                "thickness": 12,
                "x": 1.08,
                "len": 0.9,
            },
        }
    # zoom, not select: Streamlit turns click-to-select off while dragging selects; box and
    # lasso stay one click away in the mode bar
    layout.update(dragmode="zoom", clickmode="event+select")
    layout.update(base_layout_dict(height=height or 130 + 340 * len(groups)))
    layout["margin"].update(t=95, r=110)  # four title lines: the interval on its own
    layout["legend"].update(yanchor="top", y=-0.25 / len(groups))
    return go.Figure(data=traces, layout=layout)  # one validation of the whole figure
