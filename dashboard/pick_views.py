"""The UMAP and Compare pages on a store that holds picks but no labelled runs: the picks and
their order on the pool's map, and, for the picks of one pool, their overlap, predicted-class mix
and domain mix (``core.analysis.pick_views``; ``python -m core picks --compare`` prints the
same). Store text is shown as plain text."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis import pick_views
from core.analysis.projection import PROJECTION_SPACES
from core.run import pick_store
from dashboard import live_chart, picks, stats, urlstate, widgets
from dashboard.figures.compare import class_histogram_figure, jaccard_figure
from dashboard.figures.picks import pick_map_figure
from dashboard.figures.style import space_title
from dashboard.text import escape_markdown

SHOWN = 12  # previews under the map


def picks_only(selection: widgets.RunSelection) -> bool:
    """True when the store holds picks but no labelled runs."""
    return selection.all_runs.empty and bool(pick_store.pick_ids(selection.root))


@st.cache_data(show_spinner=False, max_entries=16)
def _groups(root: str, marker: tuple[str, ...]) -> dict[str, list[str]]:
    return pick_views.picks_by_pool(root)


@st.cache_data(
    show_spinner="Computing the UMAP of the pool once (then cached on disk)…", max_entries=16
)
def _map(root: str, pick_id: str, space: str) -> pd.DataFrame:
    return pick_views.pick_map(root, pick_id, space)


def _choose_pool(root: str, key: str) -> list[str]:
    """The picks of one pool (a select box when the store holds several pools)."""
    groups = _groups(root, tuple(pick_store.pick_ids(root)))
    names = list(groups)
    pool = names[0]
    if len(names) > 1:
        pool = st.selectbox("Pool", names, key=key, format_func=escape_markdown)
    else:
        st.caption(escape_markdown(f"Pool: {pool}"))
    return groups[pool]


def umap_view(root: str) -> None:
    """One panel per pick of a pool on its 2-D map, ranks as colour; previews under it."""
    st.info(
        "This store holds picks of an unlabelled pool and no labelled runs: the map shows each "
        "pick's samples in the order the selector picked them (colour and number = rank).",
        icon=":material/info:",
    )
    ids = _choose_pool(root, "umap_picks_pool")
    space_col, shown_col = st.columns([2, 5])
    space = urlstate.choice(
        space_col.radio,
        "UMAP of",
        PROJECTION_SPACES,
        key="umap_space",
        name="space",
        default="z",
        horizontal=True,
        format_func=space_title,
    )
    loaded = {pick_id: pick_store.load_pick(root, pick_id) for pick_id in ids}
    names = {pick_id: pick_views.pick_name(info) for pick_id, (info, _) in loaded.items()}
    chosen = shown_col.multiselect(
        "Picks (one panel each)",
        ids,
        default=ids[:4],
        format_func=lambda i: f"{names[i]} · {i[:6]}",
        key="umap_picks_shown",
    )
    if not chosen:
        st.info("Choose at least one pick to draw it.")
        return
    points = _map(root, chosen[0], space)
    frames = {f"{names[i]} · {i[:6]}": loaded[i][1] for i in chosen}
    event = live_chart.plotly_chart(
        pick_map_figure(points, frames, space_label=space_title(space)),
        key="umap_picks_chart",
        selectable=True,
    )
    widgets.download_buttons(lambda: points, f"umap-picks-{space}-{chosen[0]}", "Map and ranks")
    st.subheader("Samples")
    info, frame = loaded[chosen[0]]
    rows = stats.selected_keys(event)
    if rows:
        st.caption(f"{len(rows)} selected pick(s); showing up to {SHOWN}.")
        head = frame[frame["row"].isin(rows)].drop_duplicates("row").head(SHOWN)
    else:
        st.caption(
            "Click a pick, or select several with the box or lasso tool, to see them here. "
            f"Meanwhile: the first picks of {names[chosen[0]]}."
        )
        head = frame.head(SHOWN)
    picks.show_grid(picks.previews(root, info, head), head)


def compare_view(root: str) -> None:
    """Overlap, predicted-class mix and domain mix of the picks of one pool."""
    st.info(
        "This store holds picks of an unlabelled pool and no labelled runs: the picks are "
        "compared by overlap and by the model's predicted classes (no labels needed).",
        icon=":material/info:",
    )
    ids = _choose_pool(root, "compare_picks_pool")
    result = pick_views.compare_picks(root, ids)
    st.subheader("Overlap of the picks")
    st.caption(
        "Jaccard index |A ∩ B| / |A ∪ B| of two picks: 1 means the same samples, 0 none in "
        "common. Picks of the same selector with other seeds show how stable it is."
    )
    live_chart.plotly_chart(jaccard_figure(result.jaccard), key="compare_picks_jaccard")
    widgets.download_buttons(
        lambda: result.jaccard.rename_axis("pick").reset_index(), "compare-picks-jaccard", "Overlap"
    )
    st.subheader("Predicted-class mix of the picks")
    st.caption(
        "Share of each pick per class the model predicts (bars) against the pool's share "
        "(black ticks): without labels, the predictions stand in for the classes."
    )
    live_chart.plotly_chart(
        class_histogram_figure(result.class_mix, result.class_names, axis_title="predicted class"),
        key="compare_picks_classes",
    )
    widgets.download_buttons(lambda: result.class_mix, "compare-picks-class-mix", "Class mix")
    if result.domain_mix is not None:
        st.subheader("Target-domain mix of the picks")
        live_chart.plotly_chart(
            class_histogram_figure(result.domain_mix, result.domains, axis_title="target domain"),
            key="compare_picks_domains",
        )
