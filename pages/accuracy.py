"""Accuracy: selectors x budgets over seeds, and the Table 1 decomposition after adaptation."""

import streamlit as st

from dashboard import (
    exports,
    live_chart,
    loaders,
    scenario_form,
    tables,
    task_views,
    urlstate,
    widgets,
)
from dashboard.figures.accuracy import SPLIT_TITLES, accuracy_figure, decomposition_figure

selection = widgets.current_selection()
widgets.page_header(
    "Accuracy after adaptation",
    "Mean ± std over the selected seeds (n), in %; Δ is the mean per-seed difference to Random "
    "(same seed, same pool) with its 95% t interval, and ≈ marks a difference not distinguishable "
    "at this number of seeds; with several source models, ± src and ± seed are the spreads "
    "across source models and across seeds within one, and intervals are over source-model "
    "means. The best selector per budget in bold. The paper reports FORGE best in 7 of 8 "
    "settings; results here can differ where the model, the data and the recipe differ from "
    "the paper's (these runs' own are named below, from their configs).",
)
widgets.require_runs(selection, "accuracy")
widgets.setting_caption(selection)
widgets.setting_note(selection)
run_ids = tuple(selection.runs["run_id"])
split = urlstate.choice(
    st.columns(3)[0].selectbox,
    "Split",
    tuple(SPLIT_TITLES),
    key="acc_split",
    name="split",
    default="test",
    format_func=SPLIT_TITLES.get,
    help="Test is the held-out target test set; the other splits decompose it.",
)
long, summary = loaders.accuracy_tables(selection.root, run_ids, split)
before = long[(long["split"] == split) & (long["stage"] == "before")]["accuracy"].mean()
metric = task_views.metric_name(selection.root, selection.runs)
st.caption(
    f"Metric: **{metric}**. Source model before adaptation: {100 * before:.2f}% on "
    f"{SPLIT_TITLES[split]}."
)
left, right = st.columns(2)
with left:
    st.markdown(tables.accuracy_markdown(summary))
    widgets.download_buttons(
        exports.summary_percent(summary),
        f"accuracy_{selection.scenario}_{split}",
        "this table, in %",
    )
    widgets.download_buttons(
        lambda: exports.accuracy_rows_percent(long),
        f"accuracy_per_seed_{selection.scenario}",
        "per-seed rows, in %",
    )
with right:
    live_chart.plotly_chart(
        accuracy_figure(summary, split_label=SPLIT_TITLES[split], before=before).update_yaxes(
            title_text=f"{SPLIT_TITLES[split]} {metric} (%)"
        ),
        key="accuracy_chart",
    )

st.subheader("Where the accuracy comes from (Table 1)")
st.caption(
    "Accuracy after adaptation on the labelled picks (selected train), on the rest of the "
    "pool (unselected train), and on target validation and test. The paper finds FORGE's "
    "advantage on the unselected samples: learning the picks transfers to their "
    "neighbours."
)
budget = urlstate.choice(
    st.columns(3)[0].selectbox,
    "Budget",
    selection.budgets(),
    key="acc_budget",
    name="budget",
    default=selection.budgets()[0],
    format_func=lambda b: f"{100 * b:g}%",
)
decomp = loaders.decomposition_table(selection.root, run_ids, budget)
left, right = st.columns([3, 2])
with left:
    st.markdown(tables.decomposition_markdown(decomp))
    widgets.download_buttons(
        exports.summary_percent(decomp),
        f"decomposition_{selection.scenario}_{budget:g}",
        "the decomposition, in %",
    )
with right:
    live_chart.plotly_chart(decomposition_figure(decomp), key="accuracy_decomposition")

domains = scenario_form.domain_table(
    selection.root, run_ids
)  # scenarios with several target domains
if not domains.empty:
    st.subheader("By target domain")
    st.caption(
        "Labels each target domain got (the budget applies to each) and accuracy on its "
        "unselected pool samples before → after adaptation, % mean over seeds."
    )
    st.dataframe(domains.round(2), hide_index=True, width="stretch")
