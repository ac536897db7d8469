"""Shared Streamlit pieces: the run sidebar, empty states, thumbnails, job progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core.base.validation import positive_from_env
from core.run import pick_store
from core.selection import method_order
from dashboard import access, clock, jobs, loaders, progress, session, task_views, urlstate
from dashboard.navigation import page_path
from dashboard.text import escape_markdown, quote_markdown


@dataclass(frozen=True)
class RunSelection:
    """The runs the sidebar picked: every finished run and the filtered ones."""

    root: str
    all_runs: pd.DataFrame
    runs: pd.DataFrame
    scenario: str | None
    adaptation: str | None = None  # the one adaptation mode of ``runs`` (never mixed)

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


def scenarios_newest_first(runs: pd.DataFrame) -> list[str]:
    """Scenarios of the finished runs, the one with the newest finished run first."""
    newest = runs.groupby("scenario")["created"].max().sort_values(ascending=False)
    return list(newest.index)


def _linked_multiselect(label: str, options: list, *, key: str, name: str, help: str) -> list:
    """A multiselect whose choice lives in the URL's ``name`` parameter (all options by
    default): preset from the link, remembered back into it."""
    urlstate.preset(key, name, options, many=True)
    every = f"{key}::every"  # the options the user last saw
    seen = st.session_state.get(every)
    if seen is not None and st.session_state.get(key) == seen and list(options) != seen:
        st.session_state[key] = list(options)  # never narrowed: grows with new runs
    st.session_state[every] = list(options)
    chosen = st.multiselect(
        label,
        options,
        default=None if key in st.session_state else options,
        key=key,
        help=help,
    )
    urlstate.remember(name, chosen, default=options)
    return chosen


def sidebar(root: str, *, filters: bool = True) -> RunSelection:
    """Scenario, selectors and seeds to show, from the finished runs of the store.

    The scenario starts on the one with the newest finished run; every choice is kept in the
    URL (``?scenario=…&methods=…&seeds=…``) so a view can be shared as a link. With
    ``filters=False`` (pages that show no runs) nothing is drawn and the defaults are used.
    """
    runs = loaders.finished_runs(root, loaders.store_stamp(root))
    if runs.empty:
        if filters:
            st.sidebar.caption(f"Run store: {escape_markdown(root)} · no finished runs yet")
        return RunSelection(root, runs, runs, None)
    scenarios = scenarios_newest_first(runs)
    if not filters:
        scenario = st.session_state.get(session.SCENARIO)
        scenario = (
            scenario
            if scenario in scenarios
            else (urlstate.from_url("scenario", scenarios) or scenarios[0])
        )
        part = runs[runs["scenario"] == scenario]
        mode = st.session_state.get(f"{session.ADAPTATION}::{scenario}")
        mode, part = _adaptation_filter(root, scenario, part, draw=False, chosen=mode)
        methods = st.session_state.get(f"{session.METHODS}::{scenario}")
        seeds = st.session_state.get(f"{session.SEEDS}::{scenario}")
        if methods is not None:
            part = part[part["method"].isin(methods)]
        if seeds is not None:
            part = part[part["seed"].isin(seeds)]
        return RunSelection(root, runs, part.reset_index(drop=True), scenario, mode)
    with st.sidebar:
        st.caption(f"Run store: {escape_markdown(root)} · {len(runs)} finished run(s)")
        if refused := loaders.refused_runs(root, loaders.store_stamp(root)):
            st.warning(
                f"{len(refused)} run(s) not shown: " + escape_markdown(next(iter(refused.values())))
            )
        scenario = urlstate.choice(
            st.selectbox,
            "Scenario",
            scenarios,
            key=session.SCENARIO,
            name="scenario",
            default=scenarios[0],
            help="Runs are grouped by the data scenario they adapted to; the newest comes first.",
        )
        urlstate.remember("scenario", scenario)  # always in the link, even the newest
        part = runs[runs["scenario"] == scenario]
        mode, part = _adaptation_filter(root, scenario, part)
        part = _experiment_filter(scenario, mode, part)
        methods = method_order(part["method"])
        chosen = _linked_multiselect(
            "Selectors",
            methods,
            key=f"{session.METHODS}::{scenario}",
            name="methods",
            help="Selection methods whose runs the pages show.",
        )
        seeds = sorted(int(s) for s in part["seed"].unique())
        chosen_seeds = _linked_multiselect(
            "Seeds",
            seeds,
            key=f"{session.SEEDS}::{scenario}",
            name="seeds",
            help="Pages average or overlay these seeds.",
        )
        shown = part[part["method"].isin(chosen) & part["seed"].isin(chosen_seeds)]
        st.caption(
            f"{len(shown)} run(s) selected of {len(part)} for "
            f"{escape_markdown(scenario)} ({escape_markdown(mode)} adaptation)."
        )
    return RunSelection(root, runs, shown.reset_index(drop=True), scenario, mode)


ADAPTATION_TITLES = {"full": "full fine-tuning", "head": "last layer only (head)"}


def _adaptation_filter(
    root: str,
    scenario: str,
    part: pd.DataFrame,
    *,
    draw: bool = True,
    chosen: str | None = None,
) -> tuple[str, pd.DataFrame]:
    """Keep one adaptation mode: head and full runs answer different questions and are never
    averaged together. A radio appears only when the scenario has runs of several modes; it
    starts on the scenario's default mode (``loaders.default_adaptation``) when present."""
    modes = sorted(part["adaptation"].unique())
    preferred = loaders.default_adaptation(root, scenario)
    mode = preferred if preferred in modes else modes[0]
    if not draw:
        mode = chosen if chosen in modes else mode
    elif len(modes) > 1:
        mode = urlstate.choice(
            st.radio,
            "Adaptation",
            modes,
            default=mode,
            name="adaptation",
            horizontal=True,
            key=f"{session.ADAPTATION}::{scenario}",
            format_func=lambda m: ADAPTATION_TITLES.get(m, m),
            help="How the runs adapted to the target: full fine-tuning of the whole "
            "model, or training only the last linear layer on cached features. "
            "Pages show one mode at a time.",
        )
    return mode, part[part["adaptation"] == mode]


def _experiment_filter(scenario: str, mode: str, part: pd.DataFrame) -> pd.DataFrame:
    """Keep one experiment (same config apart from method, budget and seed): runs made with
    other hyper-parameters or another loss are never averaged in. A choice appears only when
    several are present, largest first (``core.analysis.reports.with_settings``)."""
    if "experiment" not in part.columns or part["experiment"].nunique() < 2:
        return part
    sizes = part.groupby("experiment_label").size().sort_values(ascending=False, kind="stable")
    label = urlstate.choice(
        st.selectbox,
        "Setting",
        list(sizes.index),
        default=sizes.index[0],
        name="setting",
        key=f"{session.SETTING}::{scenario}::{mode}",
        format_func=lambda x: f"{x} ({sizes[x]} runs)",
        help="The store holds runs of several settings (loss, recipe, "
        "hyper-parameters); pages show one at a time, never averaged.",
    )
    return part[part["experiment_label"] == label]


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


def sweep_notice(selection: RunSelection) -> None:
    """Say so when a background sweep of the scenario shown is running, and how far it is
    (the page picks up its runs as they finish, ``live_updates``)."""
    for status in jobs.list_jobs(selection.root):
        request = status.request if isinstance(status.request, dict) else {}
        if status.state != jobs.RUNNING or request.get("scenario") != selection.scenario:
            continue
        done = f"{status.runs_done} of {status.n_runs} runs done" if status.n_runs else "preparing"
        line = clock.job_line(selection.root, selection.all_runs, request, status.events, False)
        st.info(
            escape_markdown(
                f"A sweep of {selection.scenario} is running (job {status.job_id}): {done}"
                + (f", {line}" if line else "")
                + ". This page adds its runs as they finish."
            ),
            icon=":material/autorenew:",
        )


# what target labels would unlock on each analysis page (said on a store holding only picks)
LABELS_UNLOCK = {
    "loss-reduction gap": "labelling the target pool would unlock Figure 5, how much each "
    "unlabelled sample's loss drops compared with its nearest pick",
    "accuracy": "labelling the target pool would unlock the accuracy before and after "
    "adapting on each selector's picks, per budget and seed",
    "theory": "labelling the target pool would unlock Theorem 4's bound checked term by term "
    "against the observed loss-reduction gaps",
    "selection map": "labelled runs would unlock each selector's picks on the pool's map; "
    "the Picks page shows this store's picks",
    "comparison": "labelled runs would unlock the overlap and class coverage of several "
    "selectors; the Picks page shows this store's picks",
}


def require_runs(selection: RunSelection, what: str) -> None:
    """Stop the page with a helpful message when there is nothing to show; say when a sweep
    of the scenario shown is under way."""
    if selection.scenario is not None:
        sweep_notice(selection)
    if not selection.all_runs.empty and selection.empty:
        st.info(
            f"No runs match the sidebar: choose at least one selector and one seed to see {what}."
        )
        st.stop()
    if selection.all_runs.empty and (picked := pick_store.pick_ids(selection.root)):
        st.info(
            f"The run store `{selection.root}` holds {len(picked)} pick(s) of an unlabelled "
            f"pool but no labelled runs: {LABELS_UNLOCK.get(what, 'labels unlock this view')}."
        )
        st.page_link(page_path("picks"), label="Go to the Picks", icon=":material/checklist:")
        st.stop()
    if selection.all_runs.empty:
        st.info(
            f"The run store `{selection.root}` has no finished runs yet, so there is no "
            f"{what} to show. Launch the default experiment on the Home page or choose your "
            "own sweep on the Run page."
        )
        st.page_link(page_path("run"), label="Go to the Run page", icon=":material/play_arrow:")
        st.stop()


@dataclass(frozen=True)
class SampleSource:
    """Where pool samples are shown from: the scenario (with a slice's recorded parameters, so
    indices match the pool) and whether its samples are images or text."""

    scenario: str
    params: str | None = None
    modality: str = "image"
    root: str | None = None
    pool_id: str | None = None


def sample_source(selection: RunSelection, run_id: str, meta: dict[str, Any]) -> SampleSource:
    """The source of the samples of ``run_id``'s pool (``meta``: that pool's meta)."""
    return SampleSource(
        str(selection.scenario),
        loaders.run_scenario_params(selection.root, run_id),
        str(meta.get("modality", "image")),
        selection.root,
        meta.get("pool_id"),
    )


def _previews(source: SampleSource, indices: Sequence[int]) -> list[Any] | None:
    """Thumbnails or texts, or None (with a caption saying why) when the scenario cannot be
    loaded here."""
    what = "texts" if source.modality == "text" else "thumbnails"
    indices = tuple(int(i) for i in indices)
    if source.root and source.pool_id:  # stored with the pool: no scenario to load
        stored = loaders.pool_previews(source.root, source.pool_id, indices)
        if stored is not None:
            return stored
    try:
        with st.spinner(f"Loading the {what} of scenario {source.scenario}…"):
            previews = loaders.thumbnails(source.root, source.scenario, indices, source.params)
            if source.root and source.pool_id:  # next time, from the store
                loaders.store_previews(source.root, source.pool_id, source.scenario, source.params)
            return previews
    except Exception as error:  # noqa: BLE001 - e.g. a store made elsewhere, data not here
        st.caption(
            escape_markdown(
                f"No {what}: scenario {source.scenario!r} cannot be loaded "
                f"here ({type(error).__name__}: {error})."
            )
        )
        return None


def _show_preview(preview: Any, *, width: int, caption: str | None = None) -> None:
    """An image, or a text as an escaped block quote (``$``, ``#``, ``*``… shown as typed), or a
    task's own sample (``dashboard.task_views``: preference pair, question + context)."""
    if (render := task_views.renderer_for(preview)) is not None:
        render(preview)
        if caption:
            st.caption(escape_markdown(caption))
    elif isinstance(preview, str):
        st.markdown(quote_markdown(preview))
        if caption:
            st.caption(escape_markdown(caption))
    elif preview is not None:
        st.image(preview, caption=escape_markdown(caption) if caption else None, width=width)
    elif caption:
        st.caption(escape_markdown(caption))


def show_samples(
    source: SampleSource,
    indices: Sequence[int],
    captions: Sequence[str],
    *,
    columns: int = 8,
    width: int = 84,
) -> None:
    """A grid of target-pool thumbnails (or text snippets, in fewer wider columns) with
    captions."""
    indices = [int(i) for i in indices]
    if not indices:
        return
    if source.modality == "text":
        columns = min(columns, 3)
    previews = _previews(source, indices) or [None] * len(indices)
    for start in range(0, len(indices), columns):
        cells = st.columns(columns)
        for cell, preview, caption in zip(
            cells,
            previews[start : start + columns],
            captions[start : start + columns],
            strict=False,
        ):
            with cell, st.container(border=source.modality == "text"):
                _show_preview(preview, width=width, caption=caption)


def class_name(label: Any, class_names: Sequence[str] | None) -> str:
    """The class name of an integer label, or the label itself when there is no name."""
    label = int(label)
    return class_names[label] if class_names and 0 <= label < len(class_names) else str(label)


def show_pairs(
    source: SampleSource, rows: pd.DataFrame, class_names: list[str] | None, *, per_row: int = 3
) -> None:
    """Each pair as two thumbnails or texts (unselected x′, nearest selected x) with numbers."""
    records = rows.to_dict("records")
    indices = [i for row in records for i in (int(row["idx"]), int(row["nn_idx"]))]
    previews = _previews(source, indices) or [None] * len(indices)
    per_row = min(per_row, 2) if source.modality == "text" else per_row
    for start in range(0, len(records), per_row):
        cells = st.columns(per_row)
        for offset, (cell, row) in enumerate(
            zip(cells, records[start : start + per_row], strict=False)
        ):
            pair = previews[2 * (start + offset) : 2 * (start + offset) + 2]
            with cell, st.container(border=True):
                if _is_image(pair[0]) and _is_image(pair[1]):
                    _image_pair_card(pair, row, class_names)
                else:
                    _two_column_card(pair, row, class_names)


def _is_image(preview: Any) -> bool:
    """A thumbnail (not a text, a task's own sample or a missing preview)."""
    return (
        preview is not None
        and not isinstance(preview, str)
        and (task_views.renderer_for(preview) is None)
    )


LINE_BREAK = "  \n"  # a line break inside one markdown paragraph


def _side_caption(
    row: dict[str, Any], prefix: str, class_names: list[str] | None, sep: str = " · "
) -> str:
    """Label, loss before -> after and loss reduction r of one side of a pair (markdown);
    ``prefix`` "" for x′, "nn_" for its nearest pick x."""
    return sep.join(
        (
            f"label **{escape_markdown(class_name(row[prefix + 'label'], class_names))}**",
            f"loss {row[prefix + 'loss_before']:.3f} → {row[prefix + 'loss_after']:.3f}",
            f"r = {row[prefix + 'r']:.3f}",
        )
    )


def _pair_caption(row: dict[str, Any]) -> str:
    """Selector, seed, space and the pair's gap, distance and gamma (markdown)."""
    seed = f"seed {row['seed']} · " if "seed" in row else ""
    method = f"{row['method']} · " if "method" in row else ""
    return (
        escape_markdown(f"{method}{seed}{row.get('space', '')} space")
        + f" · gap **{row['gap']:.3f}** · distance {row['distance']:.3g} · γ {row['gamma']:.3g}"
    )


def _image_pair_card(pair: list[Any], row: dict[str, Any], class_names: list[str] | None) -> None:
    """Both thumbnails as one image element and the numbers as one caption: three elements a
    card instead of nine, fewer for a browser to re-render after each selection (with the lazy
    charts: box select -> pairs 0.43-0.55 s against 0.59-0.65 s, issue 12's A/B)."""
    st.image(pair, caption=[f"x′ #{row['idx']}", f"x #{row['nn_idx']} (selected)"], width=72)
    st.caption(
        LINE_BREAK.join(
            (
                f"x′: {_side_caption(row, '', class_names)}",
                f"x: {_side_caption(row, 'nn_', class_names)}",
                _pair_caption(row),
            )
        )
    )


def _two_column_card(pair: list[Any], row: dict[str, Any], class_names: list[str] | None) -> None:
    """Texts and a task's own samples need the card's width: x′ left, x right."""
    left, right = st.columns(2)
    for column, preview, title, prefix in (
        (left, pair[0], f"x′ #{row['idx']}", ""),
        (right, pair[1], f"x #{row['nn_idx']} (selected)", "nn_"),
    ):
        with column:
            _show_preview(preview, width=72)
            lines = _side_caption(row, prefix, class_names, sep=LINE_BREAK)
            st.caption(f"{title}{LINE_BREAK}{lines}")
    st.caption(_pair_caption(row))


def lazy_expander(label: str, *, key: str):
    """A closed expander whose content the page computes only while it is open (its
    ``.open``): a closed one costs nothing on every other widget change."""
    return st.expander(label, key=key, on_change="rerun")


def download_buttons(
    frame: pd.DataFrame | Callable[[], pd.DataFrame], stem: str, what: str
) -> None:
    """CSV and parquet downloads of ``frame`` (or of what the callable returns), side by side.

    The files are made only when a button is clicked (deferred data), never on every rerun:
    writing tens of thousands of pairs as CSV took seconds per widget change.
    """
    from dashboard import exports

    def table() -> pd.DataFrame:
        return frame() if callable(frame) else frame

    left, right = st.columns(2)
    left.download_button(
        f"{what} (CSV)",
        lambda: exports.to_csv(table()),
        file_name=f"{stem}.csv",
        mime="text/csv",
        icon=":material/download:",
        key=f"csv-{stem}",
        on_click="ignore",  # a download changes nothing on the page: no rerun
    )
    right.download_button(
        f"{what} (parquet)",
        lambda: exports.to_parquet(table()),
        file_name=f"{stem}.parquet",
        mime="application/octet-stream",
        icon=":material/download:",
        key=f"parquet-{stem}",
        on_click="ignore",
    )


def job_card(root: str, status: jobs.JobStatus) -> None:
    """Progress of one background sweep: bar, current stage, stages seen, log on failure.

    Everything read from the job's files is escaped (no HTML, no markdown from a file)."""
    icon = {
        jobs.RUNNING: ":material/hourglass_top:",
        jobs.FINISHED: ":material/check_circle:",
        jobs.FAILED: ":material/error:",
        jobs.STOPPED: ":material/stop_circle:",
        jobs.QUEUED: ":material/schedule:",
        jobs.CANCELLED: ":material/cancel:",
        jobs.DAMAGED: ":material/broken_image:",
    }
    if status.state == jobs.DAMAGED:
        with st.container(border=True):
            st.markdown(f"{icon[jobs.DAMAGED]} **Job {status.job_id}** — damaged")
            st.caption(
                escape_markdown(status.problem) + ". The sweep it described, if any, "
                "is not tracked; its finished runs are in the store."
            )
        return
    request = status.request
    what = (
        f"{request.get('scenario', '?')} · {', '.join(map(str, request.get('methods', [])))}"
        f" · budgets {', '.join(f'{float(b):g}' for b in request.get('budgets', []))} · "
        f"seeds {', '.join(map(str, request.get('seeds', [])))}"
        + (f" · {request['adaptation']} adaptation" if request.get("adaptation") else "")
    )
    with st.container(border=True):
        st.markdown(f"{icon.get(status.state, '')} **Job {status.job_id}** — {status.state}")
        st.caption(escape_markdown(what))
        if status.state == jobs.QUEUED:
            position = jobs.queue_position(root, status.job_id)
            st.caption(
                f"Waiting in the queue (position {position}): at most "
                f"{jobs.job_queue.max_jobs()} sweep(s) run at once."
            )
        elif status.state != jobs.CANCELLED:
            st.progress(status.fraction, text=escape_markdown(status.headline()))
            step = progress.step_progress(status.events)
            if step is not None and status.state == jobs.RUNNING:
                st.progress(step[1], text=escape_markdown(step[0]))
            if status.state in (jobs.RUNNING, jobs.FINISHED, jobs.FAILED, jobs.STOPPED):
                runs = loaders.finished_runs(root, loaders.store_stamp(root))
                ended = status.state != jobs.RUNNING
                line = clock.job_line(root, runs, status.request, status.events, ended)
                if line:  # the one estimator's time left, or the time it took
                    st.caption(f":material/timer: {line}")
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
        if status.state not in (jobs.QUEUED, jobs.CANCELLED):
            st.caption(" → ".join(marks))
        for note in status.estimate_notes():
            st.caption(f":material/schedule: {escape_markdown(note)}")
        if status.state in (jobs.RUNNING, jobs.QUEUED) and access.is_operator():
            label = "Stop" if status.state == jobs.RUNNING else "Cancel"
            if st.button(
                label,
                key=f"stop-{status.job_id}",
                help="Interrupt the sweep (like Ctrl-C); finished runs are kept."
                if label == "Stop"
                else "Take the sweep out of the queue.",
            ):
                jobs.cancel_job(root, status.job_id)
                st.rerun()
        if status.state in (jobs.FAILED, jobs.STOPPED) and status.log_tail:
            with st.expander("Log (last lines)"):
                st.code(status.log_tail, language=None)


def launch_default(root: str, request: dict[str, Any] | None = None) -> None:
    """One click: a preset sweep (the CLI's default one unless ``request`` is given), through
    the store's queue."""
    request = request or jobs.default_request()
    try:
        job_id = jobs.submit_job(root, **request).job_id
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
    running_now = any(s.state in jobs.ACTIVE for s in jobs.list_jobs(root))

    @st.fragment(run_every=REFRESH_SECONDS if running_now else None)
    def panel() -> None:
        statuses = jobs.list_jobs(root)
        running = {s.job_id for s in statuses if s.state in jobs.ACTIVE}
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
                    st.markdown(
                        escape_markdown(f"{status.job_id} — {status.state} · {status.headline()}")
                    )

    panel()


LIVE_SECONDS_RUNNING = 2.0  # while a background sweep of this store runs
LIVE_SECONDS_IDLE = 60.0  # otherwise (a sweep started from a shell shows up within a minute)
LIVE_IDLE_ENV = "FORGELENS_LIVE_IDLE_SECONDS"


def live_idle_seconds() -> float:
    """How often an idle page checks the store for new runs: ``$FORGELENS_LIVE_IDLE_SECONDS``
    (a positive number of seconds), else ``LIVE_SECONDS_IDLE``."""
    return positive_from_env(
        LIVE_IDLE_ENV,
        LIVE_SECONDS_IDLE,
        float,
        "a positive number of seconds (how often an idle page checks the run store for new runs)",
    )


def live_updates(root: str) -> None:
    """Rerun the whole page when the run store changes (a run finished), without a reload.

    A tiny fragment polls the store's stamp (one ``os.stat``) every couple of seconds while a
    sweep runs, every minute otherwise (``live_idle_seconds``); the full rerun then reads the
    new runs everywhere.
    """
    stamp = loaders.store_stamp(root)
    jobs.resume(root)  # a queue whose runner was killed moves on when anyone looks
    running = any(s.state in jobs.ACTIVE for s in jobs.list_jobs(root))

    @st.fragment(run_every=LIVE_SECONDS_RUNNING if running else live_idle_seconds())
    def watch() -> None:
        jobs.resume(root)
        still_running = any(s.state in jobs.ACTIVE for s in jobs.list_jobs(root))
        if loaders.store_stamp(root) != stamp or still_running != running:
            st.rerun(scope="app")

    with st.sidebar:
        watch()


def setting_caption(selection: RunSelection) -> None:
    """One line naming the model and data of the runs shown, read from their configs (never a
    fixed description: a folder scenario on EfficientNet is not 'a small CNN on digits')."""
    from dashboard import framing

    configs = loaders.run_configs(selection.root, tuple(selection.runs["run_id"]))
    pool_id = selection.runs["pool_id"].iloc[0]
    setting = framing.run_setting(configs, loaders.pool_meta(selection.root, pool_id))
    st.caption(escape_markdown(f"Model: {setting['backbone']}. Data: {setting['data']}."))


def setting_note(selection: RunSelection) -> None:
    """How the runs shown differ from the paper's setting (backbone, data, recipe, iterations)."""
    from dashboard import framing

    run_ids = tuple(selection.runs["run_id"])
    configs = loaders.run_configs(selection.root, run_ids)
    pool_id = selection.runs["pool_id"].iloc[0]
    with st.expander(
        "These runs are not the paper's setting — how they differ", icon=":material/info:"
    ):
        st.markdown(framing.CAVEAT)
        st.markdown(framing.setting_markdown(configs, loaders.pool_meta(selection.root, pool_id)))
