"""Loss-reduction gap: the paper's Figure 5 for a chosen selector (or two), budget and seeds."""

import streamlit as st

from dashboard import exports, live_chart, loaders, stats, tables, task_views, urlstate, widgets
from dashboard.figures.gap import figure5_panels, gap_figure

selection = widgets.current_selection()
widgets.page_header(
    "Loss-reduction gap (Figure 5)",
    "Each point is an unselected sample x′ paired with its nearest selected sample x in one "
    "embedding space; y is the gap |r(x) − r(x′)| between their loss reductions after "
    "adaptation, colour is γ = max(‖z‖, ‖z′‖) (panel b: the distance). The paper predicts: "
    "(a) in BADGE space large gaps occur even at small distances, (b) those large gaps come "
    "with large γ, (c) in FORGE space distance and gap correlate again. Whether these runs "
    "show it is in the panel titles.",
)
widgets.require_runs(selection, "loss-reduction gap")
if note := task_views.feature_norm_note(selection.root, selection.runs):
    st.caption(note)
widgets.setting_note(selection)
methods = selection.methods()
left, middle, right = st.columns(3)
method = urlstate.choice(
    left.selectbox,
    "Selector whose picks define the pairs",
    methods,
    key="gap_method",
    name="selector",
    default="badge" if "badge" in methods else methods[0],
)
NONE = "— none —"
DRAWN = 3000  # points per panel drawn unless "Draw every pair" is on
versus = urlstate.choice(
    left.selectbox,
    "Side by side with (shared axes)",
    [NONE, *[m for m in methods if m != method]],
    key="gap_versus",
    name="vs",
    default=NONE,
)
versus = None if versus == NONE else versus
budget = urlstate.choice(
    middle.selectbox,
    "Budget",
    selection.budgets(method),
    key="gap_budget",
    name="budget",
    format_func=lambda b: f"{100 * b:g}%",
)
with right:
    include_coreset = st.toggle("Add the CORESET (z) space panel", value=False)
    log_y = st.toggle(
        "Log scale for the gap",
        value=False,
        help="Gaps span decades; pairs with a zero gap drop out on a log axis.",
    )
    bins = st.slider("Bins of the mean trend", 4, 30, 12)
    draw_all = st.toggle(
        "Draw every pair",
        value=False,
        help=f"Off: at most {DRAWN:,} points per panel (every large gap, a random sample of "
        "the rest), so the page stays quick in a browser without a GPU. Correlations, "
        "trends and tables always use every pair.",
    )
shown = [method] + ([versus] if versus else [])
run_ids = tuple(r for m in shown for r in selection.run_ids(method=m, budget=budget))
pairs = loaders.run_table(selection.root, run_ids, "pairs")
if "domain" in pairs.columns and pairs["domain"].nunique() > 1:  # several target domains
    domains = ["all", *sorted(pairs["domain"].astype(str).unique())]
    domain = st.selectbox("Target domain of x′", domains, key="gap_domain")
    pairs = pairs if domain == "all" else pairs[pairs["domain"].astype(str) == domain]
meta = loaders.pool_meta(
    selection.root, selection.runs.set_index("run_id").loc[run_ids[0], "pool_id"]
)
class_names = meta.get("class_names")
per_panel = len(pairs) // max(pairs["space"].nunique(), 1) // len(shown)
thinned = not draw_all and per_panel > DRAWN
st.caption(
    f"{len(run_ids)} run(s) · seeds {', '.join(map(str, sorted(set(pairs['seed']))))} · "
    f"{len(pairs) // max(pairs['space'].nunique(), 1)} pairs per space"
    + (
        f" · drawing {DRAWN:,} of {per_panel:,} per panel (every large gap and a random "
        "sample; statistics use all)"
        if thinned
        else ""
    )
    + " · hover a point for its sample, click it (or box / lasso several) to see the pair"
)
event = live_chart.plotly_chart(
    gap_figure(
        pairs,
        figure5_panels(include_coreset),
        bins=bins,
        log_y=log_y,
        by="method" if versus else None,
        class_names=class_names,
        order=shown,
        max_points=None if draw_all else DRAWN,
    ),
    key="gap_chart",
    selectable=True,
)

chosen = stats.selected_keys(event)
st.subheader("Pairs")
if chosen:
    rows = pairs.loc[chosen].sort_values("gap", ascending=False)
    st.caption(
        f"{len(rows)} selected point(s); showing up to 12, largest gap first. Click, box "
        "or lasso again to change; double-click the chart to clear."
    )
else:
    space = st.radio(
        "Until you select points, show the largest gaps of",
        ("badge", "forge", "coreset"),
        horizontal=True,
        format_func=str.upper,
    )
    rows = pairs[pairs["space"] == space].nlargest(6, "gap")
    st.caption(
        "Click a point, or select several with the box or lasso tool, to inspect those "
        f"pairs. Meanwhile: the {len(rows)} largest gaps in {space.upper()} space. The "
        "same x′ can appear once per seed, with another nearest pick each time."
    )
widgets.show_pairs(widgets.sample_source(selection, run_ids[0], meta), rows.head(12), class_names)
# expanders that run their content only while open (on_change="rerun"): closed, they cost
# nothing on every other widget change
table = st.expander("Table of these pairs", key="gap_table_open", on_change="rerun")
if table.open:
    table.dataframe(tables.pair_details(rows, class_names), hide_index=True, width="stretch")
grouped = st.expander(
    "Grouped by selected sample: how many neighbours each pick represents",
    key="gap_grouped_open",
    on_change="rerun",
)
with grouped:
    st.caption(
        "One row per pick x (per seed and space): c_j = the unselected samples whose "
        "nearest pick it is (Proposition 2's weight is c_j + 1), their mean and largest "
        "gap, and r(x). Of the pairs above, or of all pairs when none are selected."
    )
    if grouped.open:
        st.dataframe(
            stats.group_by_pick(rows if chosen else pairs).head(200),
            hide_index=True,
            width="stretch",
            column_config={"budget": st.column_config.NumberColumn(format="percent")},
        )
st.markdown("**Download the pairs behind the figure** (every seed and space shown)")
widgets.download_buttons(
    lambda: exports.pairs_export(pairs, class_names),
    f"pairs_{selection.scenario}_{'_'.join(shown)}_{budget:g}",
    "pairs",
)
correlations = st.expander(
    "Correlations of every selector and budget (mean over seeds)",
    key="gap_correlations_open",
    on_change="rerun",
)
if correlations.open:
    summary = loaders.correlation_table(selection.root, tuple(selection.runs["run_id"]))
    correlations.dataframe(tables.correlation_pivot(summary), width="stretch")
