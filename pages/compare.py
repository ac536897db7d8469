"""Compare selectors: how much their picks overlap, their class mix, per-class coverage."""

import streamlit as st

from core.selection import SPACES
from dashboard import exports, health, live_chart, loaders, stats, task_views, urlstate, widgets
from dashboard.figures.compare import class_histogram_figure, coverage_figure, jaccard_figure
from dashboard.figures.style import space_title
from dashboard.pick_views import compare_view, picks_only

selection = widgets.current_selection()
widgets.page_header(
    "Compare selectors",
    "Do two selectors pick the same samples? Do they follow the pool's class mix? Are all "
    "classes represented by a nearby pick? Averages over the selected seeds at one budget.",
)
if picks_only(selection):  # an unlabelled store: its picks
    compare_view(selection.root)
    st.stop()
widgets.require_runs(selection, "comparison")
runs = selection.runs
budget = urlstate.choice(
    st.columns(3)[0].selectbox,
    "Budget",
    selection.budgets(),
    key="compare_budget",
    name="budget",
    format_func=lambda b: f"{100 * b:g}%",
)
run_ids = selection.run_ids(budget=budget)
pool_id = runs.set_index("run_id").loc[run_ids[0], "pool_id"]
pool = loaders.pool_table(selection.root, pool_id)
meta = loaders.pool_meta(selection.root, pool_id)
class_names = meta.get("class_names")
picks = stats.with_pool_columns(loaders.run_table(selection.root, run_ids, "selection"), pool)

st.subheader("Overlap of the picks")
st.caption(
    "Jaccard index |A ∩ B| / |A ∪ B| of two selectors' picks with the same seed, averaged "
    "over seeds: 1 means the same picks, 0 none in common. Selectors that score samples "
    "by the same signal (e.g. the uncertainty ones) tend to overlap most."
)
jaccard = stats.jaccard_matrix(picks)
live_chart.plotly_chart(jaccard_figure(jaccard), key="compare_jaccard")
stem = f"compare-budget{100 * budget:g}"
widgets.download_buttons(
    lambda: exports.picks_export(picks, class_names), f"{stem}-picks", "Picks per seed"
)
if "domain" in pool.columns and pool["domain"].nunique() > 1:  # several target domains
    st.subheader("Target-domain mix of the picks")
    histogram, domains = stats.domain_histogram(picks, pool)
    fig = class_histogram_figure(histogram, domains, axis_title="target domain")
    live_chart.plotly_chart(fig, key="compare_domains")

if not task_views.run_task(selection.root, selection.runs).classes:
    st.caption(
        "This task's labels are not classes (span QA: answer positions): the class mix "
        "and per-class coverage views do not apply."
    )
    st.stop()
st.subheader("Class mix of the picks")
st.caption(
    "Share of each selection per true class (bars) against the pool's share (black "
    "ticks): a bar far above or below its tick means the selector over- or under-samples "
    "that class."
)
histogram = stats.class_histogram(
    picks, pool["label"], meta.get("n_classes", pool["label"].max() + 1)
)
live_chart.plotly_chart(class_histogram_figure(histogram, class_names), key="compare_classes")
widgets.download_buttons(
    lambda: exports.fractions_percent(histogram, ("fraction",), class_names),
    f"{stem}-class-mix",
    "Class mix",
)

st.subheader("Per-class coverage")


@health.page_fragment  # the space radio reruns only this part, not the charts above
def coverage_section() -> None:
    space = urlstate.choice(
        st.radio,
        "Nearest pick measured in",
        SPACES,
        key="compare_space",
        name="space",
        default="forge",
        horizontal=True,
        format_func=space_title,
    )
    st.caption(
        "For each class, the share of its unselected samples whose nearest pick in this space "
        "has the same true label: low values mean the class is represented by picks of "
        "other classes, or not at all."
    )
    pairs = loaders.run_table(selection.root, run_ids, "pairs")
    coverage = stats.class_coverage(pairs, space)
    live_chart.plotly_chart(coverage_figure(coverage, class_names), key="compare_coverage")
    widgets.download_buttons(
        lambda: exports.pairs_export(pairs[pairs["space"] == space], class_names),
        f"{stem}-pairs-{space}",
        "Pairs behind the coverage",
    )


coverage_section()
