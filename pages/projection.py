"""Selections in UMAP: where each selector spends its budget on a 2-D map of the pool."""

import streamlit as st

from core.analysis.projection import PROJECTION_SPACES as SPACES
from dashboard import exports, health, live_chart, loaders, stats, urlstate, widgets
from dashboard.figures.projection import COLOUR_BY, selection_map_figure
from dashboard.figures.style import space_title
from dashboard.pick_views import picks_only, umap_view

DEFAULT_METHODS = ("random", "coreset", "badge", "forge")

selection = widgets.current_selection()
widgets.page_header(
    "Selections in UMAP",
    "A 2-D UMAP of the target pool, built from nearest neighbours in the chosen space "
    "(features z, BADGE or FORGE embeddings), with each selector's picks on top. Colour by "
    "gamma (‖z‖) to see whether a selector reaches the high-variability samples, by class or "
    "correctness to see which parts of the pool it covers.",
)
if picks_only(selection):  # an unlabelled store: its picks
    umap_view(selection.root)
    st.stop()
widgets.require_runs(selection, "selection map")


@health.page_fragment  # a change below reruns only this part, not the sidebar and header
def map_and_samples() -> None:
    runs = selection.runs
    pool_ids = list(dict.fromkeys(runs["pool_id"]))
    space_col, budget_col, seed_col, colour_col = st.columns([3, 2, 2, 4])
    space = urlstate.choice(
        space_col.radio,
        "UMAP of",
        SPACES,
        key="umap_space",
        name="space",
        default="z",
        horizontal=True,
        format_func=space_title,
    )
    pool_id = pool_ids[0]
    if len(pool_ids) > 1:
        pool_id = space_col.selectbox("Pool (source model)", pool_ids)
    runs = runs[runs["pool_id"] == pool_id]
    budget = urlstate.choice(
        budget_col.selectbox,
        "Budget",
        sorted(set(runs["budget"])),
        key="umap_budget",
        name="budget",
        format_func=lambda b: f"{100 * b:g}%",
    )
    seed = urlstate.choice(
        seed_col.selectbox, "Seed", sorted(set(runs["seed"])), key="umap_seed", name="seed"
    )
    has_domains = "domain" in loaders.pool_table(selection.root, pool_id).columns
    colour = urlstate.choice(
        colour_col.radio,
        "Colour by",
        [c for c in COLOUR_BY if c != "domain" or has_domains],  # target domains: folder scenarios
        key="umap_colour",
        name="colour",
        default="gamma",
        horizontal=True,
    )
    methods = [m for m in selection.methods() if m in set(runs["method"])]
    start = [m for m in DEFAULT_METHODS if m in methods] or methods[:4]
    urlstate.preset("umap_shown", "panels", methods, many=True)
    shown = st.multiselect(
        "Selectors (one panel each)",
        methods,
        default=None if "umap_shown" in st.session_state else start,
        key="umap_shown",
    )
    urlstate.remember("panels", shown, default=start)
    if not shown:
        st.info("Choose at least one selector to draw its picks.")
        return

    if not loaders.umap_is_cached(selection.root, pool_id, space):
        st.caption(
            "This UMAP is not cached yet: computing it once takes a little while, then it is "
            "stored with the pool (`python -m core run` precomputes it)."
        )
    points = loaders.umap_points(selection.root, pool_id, space)
    pick_runs = selection.run_ids(budget=budget, seed=seed, pool_id=pool_id)
    picks = loaders.run_table(selection.root, pick_runs, "selection")
    picks_by_method = {
        m: picks[picks["method"] == m] for m in shown if (picks["method"] == m).any()
    }
    meta = loaders.pool_meta(selection.root, pool_id)
    event = live_chart.plotly_chart(
        selection_map_figure(
            points,
            picks_by_method,
            colour_by=colour,
            class_names=meta.get("class_names"),
            space_label=space_title(space),
        ),
        key="umap_chart",
        selectable=True,
    )
    widgets.download_buttons(
        lambda: exports.umap_export(
            points,
            picks_by_method,
            space=space,
            budget=budget,
            seed=seed,
            class_names=meta.get("class_names"),
        ),
        f"umap-{space}-budget{100 * budget:g}-seed{seed}",
        "Map points and picks",
    )

    st.subheader("Samples")
    chosen = stats.selected_keys(event)
    if chosen:
        st.caption(
            f"{len(chosen)} selected sample(s); showing up to 24. Double-click the chart to "
            "clear the selection."
        )
    else:
        what = "texts" if meta.get("modality") == "text" else "images"
        st.caption(
            f"Click a pick, or select several with the box or lasso tool, to see their {what}. "
            "Meanwhile: the "
            f"first picks of {shown[0]}."
        )
        chosen = (
            picks_by_method.get(shown[0], picks.head(0))
            .sort_values("order")["idx"]
            .head(8)
            .tolist()
        )
    facts = points.set_index("idx").loc[chosen]
    who = picks[picks["idx"].isin(chosen) & picks["method"].isin(shown)].groupby("idx")["method"]
    pickers = who.agg(", ".join)
    names = meta.get("class_names") or []
    captions = [
        f"#{i} · {widgets.class_name(facts.loc[i, 'label'], names)} · "
        f"‖z‖ {facts.loc[i, 'znorm']:.2f}{' · ' + pickers[i] if i in pickers.index else ''}"
        for i in chosen[:24]
    ]
    widgets.show_samples(
        widgets.sample_source(selection, pick_runs[0], meta), chosen[:24], captions
    )


map_and_samples()
