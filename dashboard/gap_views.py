"""The gap page's pieces below its controls: the target-domain filter, the caption over the
figure, the pairs shown until (or after) a selection, and the tables in closed-by-default
expanders. Pages stay thin; the numbers come from ``dashboard.stats`` and ``dashboard.tables``."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.selection.spaces import SPACES
from dashboard import exports, loaders, stats, tables, urlstate, widgets
from dashboard.figures.gap import figure5_panels, gap_figure

DRAWN = 3000  # points per panel drawn unless "Draw every pair" is on


def domain_filter(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pairs of one target domain, chosen in a selectbox, when there are several."""
    if "domain" not in pairs.columns or pairs["domain"].nunique() < 2:
        return pairs
    domains = ["all", *sorted(pairs["domain"].astype(str).unique())]
    domain = st.selectbox("Target domain of x′", domains, key="gap_domain")
    return pairs if domain == "all" else pairs[pairs["domain"].astype(str) == domain]


@st.cache_resource(show_spinner=False, max_entries=8)
def figure(
    pairs: pd.DataFrame,
    shown: tuple[str, ...],
    *,
    include_coreset: bool,
    bins: int,
    log_y: bool,
    class_names: tuple[str, ...] | None,
    draw_all: bool,
) -> go.Figure:
    """Figure 5 for the selectors ``shown`` (two: side by side), built once per view: a box
    select, the pairs radio or an expander reruns the page with the same figure, which takes
    0.15-0.3 s to build on a 2-core laptop (hashing the pairs: under 10 ms). Shared and never
    changed after it is built."""
    return gap_figure(
        pairs,
        figure5_panels(include_coreset),
        bins=bins,
        log_y=log_y,
        by="method" if len(shown) > 1 else None,
        class_names=list(class_names) if class_names else None,
        order=list(shown),
        max_points=None if draw_all else DRAWN,
    )


def figure_caption(pairs: pd.DataFrame, n_runs: int, n_methods: int, draw_all: bool) -> str:
    """Runs, seeds and pairs behind the figure, and how many points it draws."""
    per_space = len(pairs) // max(pairs["space"].nunique(), 1)
    per_panel = per_space // n_methods
    seeds = ", ".join(map(str, sorted(set(pairs["seed"]))))
    thinned = (
        f" · drawing {DRAWN:,} of {per_panel:,} per panel (every large gap and a random "
        "sample; statistics use all)"
        if not draw_all and per_panel > DRAWN
        else ""
    )
    return (
        f"{n_runs} run(s) · seeds {seeds} · {per_space} pairs per space{thinned} · hover a "
        "point for its sample, click it (or box / lasso several) to see the pair"
    )


def shown_pairs(pairs: pd.DataFrame, chosen: Sequence[int]) -> pd.DataFrame:
    """The selected pairs, largest gap first; or, until a selection, the largest gaps of the
    space picked in a radio."""
    if chosen:
        rows = pairs.loc[list(chosen)].sort_values("gap", ascending=False)
        st.caption(
            f"{len(rows)} selected point(s); showing up to 12, largest gap first. Click, box "
            "or lasso again to change; double-click the chart to clear."
        )
        return rows
    space = urlstate.choice(
        st.radio,
        "Until you select points, show the largest gaps of",
        SPACES,  # the one order of the spaces, everywhere
        key="gap_largest_space",
        name="largest",
        default="badge",
        horizontal=True,
        format_func=str.upper,
    )
    rows = pairs[pairs["space"] == space].nlargest(6, "gap")
    st.caption(
        "Click a point, or select several with the box or lasso tool, to inspect those "
        f"pairs. Meanwhile: the {len(rows)} largest gaps in {space.upper()} space. The "
        "same x′ can appear once per seed, with another nearest pick each time."
    )
    return rows


def pair_tables(rows: pd.DataFrame, grouped_source: pd.DataFrame, class_names) -> None:
    """The shown pairs as a table, and ``grouped_source`` grouped by pick (Prop. 2's c_j)."""
    table = widgets.lazy_expander("Table of these pairs", key="gap_table_open")
    if table.open:
        table.dataframe(tables.pair_details(rows, class_names), hide_index=True, width="stretch")
    grouped = widgets.lazy_expander(
        "Grouped by selected sample: how many neighbours each pick represents",
        key="gap_grouped_open",
    )
    grouped.caption(
        "One row per pick x (per seed and space): c_j = the unselected samples whose "
        "nearest pick it is (Proposition 2's weight is c_j + 1), their mean and largest "
        "gap, and r(x). Of the pairs above, or of all pairs when none are selected."
    )
    if grouped.open:
        grouped.dataframe(
            stats.group_by_pick(grouped_source).head(200),
            hide_index=True,
            width="stretch",
            column_config={"budget": st.column_config.NumberColumn(format="percent")},
        )


def downloads_and_correlations(
    selection: widgets.RunSelection, pairs: pd.DataFrame, stem: str, class_names
) -> None:
    """The pairs behind the figure as files, and every selector's correlations."""
    st.markdown("**Download the pairs behind the figure** (every seed and space shown)")
    widgets.download_buttons(lambda: exports.pairs_export(pairs, class_names), stem, "pairs")
    correlations = widgets.lazy_expander(
        "Correlations of every selector and budget (mean over seeds)",
        key="gap_correlations_open",
    )
    if correlations.open:
        summary = loaders.correlation_table(selection.root, tuple(selection.runs["run_id"]))
        correlations.dataframe(tables.correlation_pivot(summary), width="stretch")
