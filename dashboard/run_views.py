"""Sections of the Run page below the sweep form: making a pick, and the finished runs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import loaders
from dashboard.navigation import page_path
from dashboard.picks import pick_form


def pick_section(root: str) -> None:
    """Decide what to label from the Run page: the Picks page's own form, and a link there."""
    st.subheader("Decide what to label")
    st.caption(
        "Target pool without labels? Pick what to label with one selector and seed: the pick is "
        "kept in the store with its labelling manifests (CSV, JSONL, Label Studio) and listed "
        "on the Picks page, where the labels come back."
    )
    with st.expander("Make a pick"):
        made = pick_form(root, key="run_pick")
        if made is not None:
            st.session_state["picks_pick"] = made  # the Picks page opens on it
            st.success(f"Picked: pick {made}, kept in the store with its manifests.")
    st.page_link(page_path("picks"), label="Go to the Picks page", icon=":material/checklist:")


def finished_runs(root: str, runs: pd.DataFrame) -> None:
    """Every finished run of the store, newest first, and one run's config on demand."""
    st.subheader("Finished runs")
    if runs.empty:
        st.caption("None yet: launch a sweep above; runs appear here as they finish.")
        return
    table = runs.sort_values("created", ascending=False)
    table = table.assign(
        budget=[f"{100 * b:g}%" for b in table["budget"]],
        total_seconds=table["total_seconds"].round(1),
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={"run_id": "run", "total_seconds": "seconds", "budget_count": "labels"},
    )
    by_id = runs.set_index("run_id")
    run_id = st.selectbox(
        "Show the config of run",
        runs["run_id"],
        format_func=lambda r: (
            f"{r} · "
            + " · ".join(
                str(v) for v in by_id.loc[r, ["scenario", "method", "budget", "seed", "adaptation"]]
            )
        ),
    )
    st.json(loaders.run_configs(root, (run_id,))[run_id], expanded=1)
