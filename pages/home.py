"""Home: what ForgeLens shows, the store at a glance, and a one-click default experiment."""

import streamlit as st

from dashboard import access, jobs, loaders, session, tables, widgets
from dashboard.navigation import PAGES, page_path

selection = widgets.current_selection()
root = selection.root
widgets.page_header(
    "ForgeLens",
    "See how single-round active-learning selectors behave under domain shift — an "
    "interactive companion to FORGE (feature-norm scaled gradient embedding).",
)
st.markdown(
    "A model trained on a **source** domain meets a shifted **target** pool. A selector picks a "
    "budget of target samples to label **once**; the model is then fine-tuned for many "
    "iterations. The paper argues that picking by gradient similarity alone (BADGE) misses "
    "samples with high *prediction variability* — large feature norm ‖z‖ — whose loss drops "
    "very differently from their selected neighbours'. FORGE rescales gradient embeddings by "
    "‖z‖ so k-center greedy picks them. ForgeLens lets you check that on runs you make here."
)

if selection.all_runs.empty:
    request = jobs.default_request()
    n_runs = len(request["methods"]) * len(request["budgets"]) * len(request["seeds"])
    st.info(f"The run store `{root}` is empty. Start with the default experiment: "
            f"**{request['scenario']}**, selectors {', '.join(request['methods'])}, budgets "
            f"{', '.join(f'{100 * b:g}%' for b in request['budgets'])} of the pool, seeds "
            f"{', '.join(map(str, request['seeds']))} — {n_runs} runs, in the background.")
    left, right = st.columns([1, 2])
    busy = any(s.state in jobs.ACTIVE for s in jobs.list_jobs(root))
    operator = access.operator_gate()
    if left.button("Run the default experiment", type="primary", icon=":material/play_arrow:",
                   disabled=busy or not operator,
                   help="A sweep is already running." if busy else None) and operator:
        widgets.launch_default(root)
        if session.LAUNCH_ERROR not in st.session_state:
            st.rerun()  # redraw with the job's card and the button disabled
    right.page_link(page_path("run"), label="…or choose scenario, selectors and budgets yourself",
                    icon=":material/tune:")
    if error := st.session_state.pop(session.LAUNCH_ERROR, None):
        st.error(f"Could not start the experiment: {error}")
    widgets.jobs_panel(root, active_only=True)
    st.page_link(page_path("teaching"), label="Meanwhile: the teaching view works without runs",
                 icon=":material/school:")
    st.stop()

runs = selection.all_runs
cols = st.columns(4)
cols[0].metric("finished runs", len(runs))
cols[1].metric("scenarios", runs["scenario"].nunique())
cols[2].metric("selectors", runs["method"].nunique())
cols[3].metric("seeds", runs["seed"].nunique())
widgets.jobs_panel(root, active_only=True)

if not selection.empty:
    st.subheader(f"Figure 5 in numbers — {selection.scenario}")
    st.caption("Spearman correlation between the distance of each unselected sample to its "
               "nearest pick and their loss-reduction gap, mean over the selected seeds. The "
               "paper predicts a weak correlation in BADGE space and a stronger one in FORGE space.")
    table = loaders.correlation_table(root, tuple(selection.runs["run_id"]))
    st.dataframe(tables.correlation_pivot(table), width="stretch")

st.subheader("Where to look")
for spec in PAGES:
    if spec.guide:
        st.page_link(spec.path, label=f"**{spec.title}** — {spec.guide}")
