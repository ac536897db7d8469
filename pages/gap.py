"""Loss-reduction gap: the paper's Figure 5 for a chosen selector (or two), budget and seeds."""

import streamlit as st

from dashboard import (
    gap_views,
    health,
    live_chart,
    loaders,
    stats,
    task_views,
    urlstate,
    widgets,
)
from dashboard.gap_views import DRAWN

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


@health.page_fragment  # a change below reruns only this part, not the sidebar and header
def figure_and_pairs() -> None:
    methods = selection.methods()
    left, middle = st.columns(2)
    # toggles and slider in a row that wraps on a narrow window: their labels are never cut
    right = st.container(horizontal=True, gap="medium", vertical_alignment="center")
    method = urlstate.choice(
        left.selectbox,
        "Selector whose picks define the pairs",
        methods,
        key="gap_method",
        name="selector",
        default="badge" if "badge" in methods else methods[0],
    )
    NONE = "— none —"
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
        flag = {"parse": urlstate.parse_flag, "fmt": urlstate.flag_text, "default": False}
        include_coreset = urlstate.value(
            st.toggle, "Add the CORESET (z) space panel", key="gap_coreset", name="z", **flag
        )
        log_y = urlstate.value(
            st.toggle,
            "Log scale for the gap",
            key="gap_log",
            name="log",
            help="Gaps span decades; pairs with a zero gap drop out on a log axis.",
            **flag,
        )
        bins = urlstate.value(
            st.slider,
            "Bins of the mean trend",
            key="gap_bins",
            name="bins",
            default=12,
            parse=lambda raw: min(max(int(raw), 4), 30),
            min_value=4,
            max_value=30,
            width=220,
        )
        draw_all = urlstate.value(
            st.toggle,
            "Draw every pair",
            key="gap_all",
            name="all",
            **flag,
            help=f"Off: at most {DRAWN:,} points per panel (every large gap, a random sample of "
            "the rest), so the page stays quick in a browser without a GPU. Correlations, "
            "trends and tables always use every pair.",
        )
    shown = [method] + ([versus] if versus else [])
    run_ids = tuple(r for m in shown for r in selection.run_ids(method=m, budget=budget))
    pairs = gap_views.domain_filter(loaders.run_table(selection.root, run_ids, "pairs"))
    meta = loaders.pool_meta(
        selection.root, selection.runs.set_index("run_id").loc[run_ids[0], "pool_id"]
    )
    class_names = meta.get("class_names")
    st.caption(gap_views.figure_caption(pairs, len(run_ids), len(shown), draw_all))
    event = live_chart.plotly_chart(
        gap_views.figure(
            pairs,
            tuple(shown),
            include_coreset=include_coreset,
            bins=bins,
            log_y=log_y,
            class_names=tuple(class_names) if class_names else None,
            draw_all=draw_all,
        ),
        key="gap_chart",
        selectable=True,
    )

    chosen = stats.selected_keys(event)
    st.subheader("Pairs")
    rows = gap_views.shown_pairs(pairs, chosen)
    source = widgets.sample_source(selection, run_ids[0], meta)
    widgets.show_pairs(source, rows.head(12), class_names)
    gap_views.pair_tables(rows, rows if chosen else pairs, class_names)
    gap_views.downloads_and_correlations(
        selection, pairs, f"pairs_{selection.scenario}_{'_'.join(shown)}_{budget:g}", class_names
    )


figure_and_pairs()
