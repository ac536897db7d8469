"""Loss-reduction gap: the paper's Figure 5 for a chosen selector, budget and seeds."""

import streamlit as st

from dashboard import loaders, stats, tables, task_views, widgets
from dashboard.figures.gap import figure5_panels, gap_figure

selection = widgets.current_selection()
widgets.page_header(
    "Loss-reduction gap (Figure 5)",
    "Each point is an unselected sample x′ paired with its nearest selected sample x in one "
    "embedding space; y is the gap |r(x) − r(x′)| between their loss reductions after "
    "adaptation, colour is γ = max(‖z‖, ‖z′‖). The paper predicts: (a) in BADGE space large gaps "
    "occur even at small distances, (b) those large gaps come with large γ, (c) in FORGE space "
    "distance and gap correlate again.",
)
widgets.require_runs(selection, "loss-reduction gap")
if note := task_views.feature_norm_note(selection.root, selection.runs):
    st.caption(note)
methods = selection.methods()
left, middle, right = st.columns(3)
method = left.selectbox("Selector whose picks define the pairs", methods,
                        index=methods.index("badge") if "badge" in methods else 0)
budget = middle.selectbox("Budget", selection.budgets(method), format_func=lambda b: f"{100 * b:g}%")
with right:
    include_coreset = st.toggle("Add the CORESET (z) space panel", value=False)
    log_y = st.toggle("Log scale for the gap", value=False,
                      help="Gaps span decades; pairs with a zero gap drop out on a log axis.")
    bins = st.slider("Bins of the mean trend", 4, 30, 12)
run_ids = selection.run_ids(method=method, budget=budget)
pairs = loaders.run_table(selection.root, run_ids, "pairs")
st.caption(f"{len(run_ids)} run(s) · seeds {', '.join(map(str, sorted(set(pairs['seed']))))} · "
           f"{len(pairs) // max(pairs['space'].nunique(), 1)} pairs per space")
event = st.plotly_chart(gap_figure(pairs, figure5_panels(include_coreset), bins=bins, log_y=log_y),
                        key="gap_chart", on_select="rerun", selection_mode=("box", "lasso"),
                        width="stretch")

meta = loaders.pool_meta(selection.root, selection.runs.set_index("run_id").loc[
    run_ids[0], "pool_id"])
class_names = meta.get("class_names")
chosen = stats.selected_keys(event)
st.subheader("Pairs")
if chosen:
    rows = pairs.loc[chosen].sort_values("gap", ascending=False)
    st.caption(f"{len(rows)} selected point(s); showing up to 12, largest gap first. Box or "
               "lasso again to change, double-click the chart to clear.")
else:
    space = st.radio("Until you select points, show the largest gaps of", ("badge", "forge",
                     "coreset"), horizontal=True, format_func=str.upper)
    rows = pairs[pairs["space"] == space].nlargest(6, "gap")
    st.caption("Select points with the box or lasso tool in any panel to inspect those pairs. "
               f"Meanwhile: the {len(rows)} largest gaps in {space.upper()} space.")
widgets.show_pairs(widgets.sample_source(selection, run_ids[0], meta), rows.head(12), class_names)
with st.expander("Table of these pairs"):
    st.dataframe(tables.pair_details(rows, class_names), hide_index=True, width="stretch")
with st.expander("Correlations of every selector and budget (mean over seeds)"):
    summary = loaders.correlation_table(selection.root, tuple(selection.runs["run_id"]))
    st.dataframe(tables.correlation_pivot(summary), width="stretch")
