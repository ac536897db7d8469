"""Shared Streamlit pieces: the run sidebar, empty states, thumbnails, job progress."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import jobs, loaders, session
from dashboard.navigation import page_path


@dataclass(frozen=True)
class RunSelection:
    """The runs the sidebar picked: every finished run and the filtered ones."""

    root: str
    all_runs: pd.DataFrame
    runs: pd.DataFrame
    scenario: str | None

    @property
    def empty(self) -> bool:
        return self.runs.empty

    def run_ids(self, **equal: Any) -> tuple[str, ...]:
        """Ids of the selected runs whose columns equal the given values (budget: isclose)."""
        part = self.runs
        for column, value in equal.items():
            if column == "budget":
                part = part[(part[column] - float(value)).abs() < 1e-9]
            else:
                part = part[part[column] == value]
        return tuple(part["run_id"])

    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.runs["method"]))

    def budgets(self, method: str | None = None) -> list[float]:
        part = self.runs if method is None else self.runs[self.runs["method"] == method]
        return sorted(set(part["budget"].astype(float)))


def _order_methods(methods: Sequence[str]) -> list[str]:
    from core.selection import available

    known = [m for m in available() if m in set(methods)]
    return known + sorted(set(methods) - set(known))


def sidebar(root: str) -> RunSelection:
    """Scenario, selectors and seeds to show, from the finished runs of the store."""
    runs = loaders.finished_runs(root, loaders.store_stamp(root))
    with st.sidebar:
        st.caption(f"Run store: `{root}` · {len(runs)} finished run(s)")
        if runs.empty:
            return RunSelection(root, runs, runs, None)
        scenarios = sorted(runs["scenario"].unique())
        scenario = st.selectbox("Scenario", scenarios, key=session.SCENARIO,
                                help="Runs are grouped by the data scenario they adapted to.")
        part = runs[runs["scenario"] == scenario]
        methods = _order_methods(part["method"].unique())
        chosen = st.multiselect("Selectors", methods, default=methods,
                                key=f"{session.METHODS}::{scenario}",
                                help="Selection methods whose runs the pages show.")
        seeds = sorted(int(s) for s in part["seed"].unique())
        chosen_seeds = st.multiselect("Seeds", seeds, default=seeds,
                                      key=f"{session.SEEDS}::{scenario}",
                                      help="Pages average or overlay these seeds.")
        shown = part[part["method"].isin(chosen) & part["seed"].isin(chosen_seeds)]
        st.caption(f"{len(shown)} run(s) selected of {len(part)} for {scenario}.")
    return RunSelection(root, runs, shown.reset_index(drop=True), scenario)


def current_selection() -> RunSelection:
    """The sidebar's selection, stored by the router before the page runs."""
    selection = st.session_state.get(session.SELECTION)
    if selection is None:  # a page run without the router (should not happen)
        root = loaders.store_root()
        return sidebar(root)
    return selection


def page_header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(caption)


def require_runs(selection: RunSelection, what: str) -> None:
    """Stop the page with a helpful message when there is nothing to show."""
    if not selection.all_runs.empty and selection.empty:
        st.info(f"No runs match the sidebar: choose at least one selector and one seed to "
                f"see {what}.")
        st.stop()
    if selection.all_runs.empty:
        st.info(f"The run store `{selection.root}` has no finished runs yet, so there is no "
                f"{what} to show. Launch the default experiment on the Home page or choose your "
                "own sweep on the Run page.")
        st.page_link(page_path("run"), label="Go to the Run page", icon=":material/play_arrow:")
        st.stop()



def _previews(scenario_name: str, indices: Sequence[int]) -> list[Any] | None:
    """Thumbnails, or None (with a caption saying why) when the scenario cannot be loaded here."""
    try:
        return loaders.thumbnails(scenario_name, tuple(int(i) for i in indices))
    except Exception as error:  # noqa: BLE001 - e.g. a store made elsewhere, data not here
        st.caption(f"No thumbnails: scenario {scenario_name!r} cannot be loaded here "
                   f"({type(error).__name__}: {error}).")
        return None


def show_samples(scenario_name: str, indices: Sequence[int], captions: Sequence[str], *,
                 columns: int = 8, width: int = 84) -> None:
    """A grid of target-pool thumbnails (or text snippets) with captions."""
    indices = [int(i) for i in indices]
    if not indices:
        return
    previews = _previews(scenario_name, indices) or [None] * len(indices)
    for start in range(0, len(indices), columns):
        cells = st.columns(columns)
        for cell, preview, caption in zip(cells, previews[start:start + columns],
                                          captions[start:start + columns], strict=False):
            with cell:
                if preview is None or isinstance(preview, str):
                    st.markdown(f"> {preview[:200]}" if preview else "")
                    st.caption(caption)
                else:
                    st.image(preview, caption=caption, width=width)


def show_pairs(scenario_name: str, rows: pd.DataFrame, class_names: list[str] | None,
               *, per_row: int = 3) -> None:
    """Each pair as two thumbnails (unselected x′, nearest selected x) with their numbers."""
    def name(label: int) -> str:
        return class_names[label] if class_names and 0 <= label < len(class_names) else str(label)

    records = rows.to_dict("records")
    indices = [i for row in records for i in (int(row["idx"]), int(row["nn_idx"]))]
    previews = _previews(scenario_name, indices) or [None] * len(indices)
    for start in range(0, len(records), per_row):
        cells = st.columns(per_row)
        for offset, (cell, row) in enumerate(zip(cells, records[start:start + per_row],
                                                 strict=False)):
            pair = previews[2 * (start + offset): 2 * (start + offset) + 2]
            with cell, st.container(border=True):
                left, right = st.columns(2)
                for column, preview, title, label, before, after, r in (
                    (left, pair[0], f"x′ #{row['idx']}", row["label"], row["loss_before"],
                     row["loss_after"], row["r"]),
                    (right, pair[1], f"x #{row['nn_idx']} (selected)", row["nn_label"],
                     row["nn_loss_before"], row["nn_loss_after"], row["nn_r"]),
                ):
                    with column:
                        if isinstance(preview, str):
                            st.markdown(f"> {preview[:160]}")
                        elif preview is not None:
                            st.image(preview, width=72)
                        st.caption(f"{title}<br>label **{name(int(label))}**<br>loss "
                                   f"{before:.3f} → {after:.3f}<br>r = {r:.3f}",
                                   unsafe_allow_html=True)
                st.caption(f"gap **{row['gap']:.3f}** · distance {row['distance']:.3g} · "
                           f"γ {row['gamma']:.3g} · {row.get('space', '')} space")


def job_card(root: str, status: jobs.JobStatus) -> None:
    """Progress of one background sweep: bar, current stage, stages seen, log on failure."""
    icon = {jobs.RUNNING: ":material/hourglass_top:", jobs.FINISHED: ":material/check_circle:",
            jobs.FAILED: ":material/error:", jobs.STOPPED: ":material/stop_circle:"}
    request = status.request
    what = (f"{request.get('scenario', '?')} · {', '.join(request.get('methods', []))} · "
            f"budgets {', '.join(f'{b:g}' for b in request.get('budgets', []))} · "
            f"seeds {', '.join(map(str, request.get('seeds', [])))}")
    with st.container(border=True):
        st.markdown(f"{icon.get(status.state, '')} **Job {status.job_id}** — {status.state}  \n"
                    f"<small>{what}</small>", unsafe_allow_html=True)
        st.progress(status.fraction, text=status.headline())
        seen = status.stages_seen
        current = status.last.get("stage")
        marks = []
        for stage in jobs.PIPELINE_STAGES:
            if stage == current and status.state == jobs.RUNNING:
                marks.append(f"**▶ {stage}**")
            elif stage in seen:
                marks.append(f"✓ {stage}")
            else:
                marks.append(f"· {stage}")
        st.caption(" → ".join(marks))
        if status.state == jobs.RUNNING and st.button("Stop", key=f"stop-{status.job_id}",
                                                      help="Interrupt the sweep (like Ctrl-C); "
                                                           "finished runs are kept."):
            jobs.stop_job(root, status.job_id)
            st.rerun()
        if status.state in (jobs.FAILED, jobs.STOPPED) and status.log_tail:
            with st.expander("Log (last lines)"):
                st.code(status.log_tail, language=None)


def launch_default(root: str) -> None:
    """One click: the CLI's default sweep on the default scenario, in the background."""
    request = jobs.default_request()
    try:
        job_id = jobs.launch_job(root, **request)
    except Exception as error:  # noqa: BLE001 - shown to the user, never swallowed silently
        st.session_state[session.LAUNCH_ERROR] = f"{type(error).__name__}: {error}"
        return
    st.session_state.setdefault(session.WATCHED_JOBS, []).append(job_id)


REFRESH_SECONDS = 2.0


def jobs_panel(root: str, *, active_only: bool = False, limit: int = 5) -> None:
    """Live cards of background sweeps, refreshed every couple of seconds while any runs.

    Reads only the job files, so it shows the same thing after a page switch or a browser
    reload. When a watched job ends, the whole app reruns so new runs appear everywhere.
    """
    running_now = any(s.state == jobs.RUNNING for s in jobs.list_jobs(root))

    @st.fragment(run_every=REFRESH_SECONDS if running_now else None)
    def panel() -> None:
        statuses = jobs.list_jobs(root)
        running = {s.job_id for s in statuses if s.state == jobs.RUNNING}
        previously = set(st.session_state.get(session.WATCHED_JOBS_RUNNING, ()))
        st.session_state[session.WATCHED_JOBS_RUNNING] = sorted(running)
        if previously - running:
            st.rerun(scope="app")
        launched = set(st.session_state.get(session.WATCHED_JOBS, ()))
        shown = [s for s in statuses if not active_only or s.job_id in running | launched]
        if not shown:
            if not active_only:
                st.caption("No background sweeps yet.")
            return
        for status in shown[:limit]:
            job_card(root, status)
        if len(shown) > limit:
            with st.expander(f"{len(shown) - limit} older job(s)"):
                for status in shown[limit:]:
                    st.markdown(f"**{status.job_id}** — {status.state} · {status.headline()}")

    panel()
