"""Home: what ForgeLens shows, the store at a glance, and a one-click default experiment."""

import streamlit as st

from core.base.progress import format_seconds
from core.run import pick_store
from dashboard import access, clock, jobs, loaders, presets, session, tables, widgets
from dashboard.navigation import PAGES, page_path
from dashboard.text import escape_markdown

selection = widgets.current_selection()
root = selection.root
widgets.page_header(
    "ForgeLens",
    "See how single-round active-learning selectors behave under domain shift — an "
    "interactive companion to FORGE (feature-norm scaled gradient embedding).",
)
st.markdown(
    "A model trained on a **source** domain meets a shifted **target** pool. A selector picks a "
    "budget of target samples to label **once**; the model is then fine-tuned on them for T "
    "iterations (the paper: 4 epochs of a pretrained ResNet-50; the default runs here: a small "
    "CNN for 50–100 iterations — each analysis page lists the exact setting). The paper argues "
    "that picking by gradient similarity alone (BADGE) misses "
    "samples with high *prediction variability* — large feature norm ‖z‖ — whose loss drops "
    "very differently from their selected neighbours'. FORGE rescales gradient embeddings by "
    "‖z‖ so k-center greedy picks them. ForgeLens lets you check that on runs you make here."
)


def offer_experiments(runs) -> None:
    """The quick demo and the full default experiment, each with its expected duration."""
    busy = any(s.state in jobs.ACTIVE for s in jobs.list_jobs(root))
    operator = access.operator_gate()
    for column, preset in zip(st.columns(2), presets.presets(), strict=True):
        request = preset.request
        estimate = clock.plan(root, runs, request)  # recomputed each time: never stale
        with column, st.container(border=True):
            st.markdown(
                f"**{preset.title}** — {preset.n_runs} runs of **{request['scenario']}**, "
                f"about **{format_seconds(estimate.seconds)}**"
            )
            st.caption(
                f"{preset.note} Selectors {', '.join(request['methods'])}; budgets "
                f"{', '.join(f'{100 * b:g}%' for b in request['budgets'])}; seeds "
                f"{', '.join(map(str, request['seeds']))}. Duration: {clock.basis(estimate)}."
            )
            if (
                st.button(
                    f"Run the {preset.title.lower()}",
                    key=f"preset-{preset.key}",
                    type="primary" if preset.key == "demo" else "secondary",
                    icon=":material/play_arrow:",
                    disabled=busy or not operator,
                    help="A sweep is already running." if busy else None,
                )
                and operator
            ):
                widgets.launch_default(root, request)
                if session.LAUNCH_ERROR not in st.session_state:
                    st.rerun()  # redraw with the job's card and the buttons disabled
    if error := st.session_state.pop(session.LAUNCH_ERROR, None):
        st.error(f"Could not start the experiment: {escape_markdown(error)}")


picked = pick_store.pick_ids(root)
if selection.all_runs.empty and picked:  # an unlabelled store: picks, no labelled runs
    cols = st.columns(3)
    cols[0].metric("picks", len(picked))
    cols[1].metric("labels imported", pick_store.count_labels(root))
    cols[2].metric("finished runs", 0)
    st.info(
        "This store holds picks of an unlabelled pool: see them in order, download their "
        "manifests and import their labels on the Picks page; Selections in UMAP shows them "
        "on the pool's map and Compare selectors their overlap and class mix. Gap, Accuracy "
        "and Theory need labelled runs (Run page)."
    )
    st.page_link(page_path("picks"), label="Go to the Picks", icon=":material/checklist:")
    st.page_link(page_path("run"), label="Run a labelled sweep", icon=":material/tune:")
    st.stop()

if selection.all_runs.empty:
    st.info(
        f"The run store `{root}` is empty. Start with the quick demo (for a class or a "
        "first look) or the full default experiment; both run in the background."
    )
    offer_experiments(selection.all_runs)
    st.page_link(
        page_path("run"),
        label="…or choose scenario, selectors and budgets yourself",
        icon=":material/tune:",
    )
    widgets.jobs_panel(root, active_only=True)
    st.page_link(
        page_path("teaching"),
        label="Meanwhile: the teaching view works without runs",
        icon=":material/school:",
    )
    st.stop()

runs = selection.all_runs
cols = st.columns(4)
cols[0].metric("finished runs", len(runs))
cols[1].metric("scenarios", runs["scenario"].nunique())
cols[2].metric("selectors", runs["method"].nunique())
cols[3].metric("seeds", runs["seed"].nunique())
widgets.jobs_panel(root, active_only=True)
with st.expander("Run the quick demo or the full default experiment"):
    offer_experiments(runs)

if not selection.empty:
    st.subheader(f"Figure 5 in numbers — {escape_markdown(selection.scenario)}")
    st.caption(
        "Spearman correlation between the distance of each unselected sample to its "
        "nearest pick and their loss-reduction gap, mean over the selected seeds. The "
        "paper predicts a weak correlation in BADGE space and a stronger one in FORGE space."
    )
    table = loaders.correlation_table(root, tuple(selection.runs["run_id"]))
    st.table(tables.correlation_pivot(table).round(3))  # static HTML: no data-grid bundle to load

st.subheader("Where to look")
for spec in PAGES:
    if spec.guide:
        st.page_link(spec.path, label=f"**{spec.title}** — {spec.guide}")
