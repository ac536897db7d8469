"""What the app says when something is wrong: damaged store items, page errors, launches.

A page never shows a traceback to a viewer (``client.showErrorDetails`` is off): an error
escaping a page becomes a short message naming what failed, and the traceback goes to the
server log (``FORGELENS_DEV=1`` lets errors through, for development and tests). Store items
that failed verification (``core.storage.integrity``) are named in the sidebar of every page and
listed on the Run page. Everything read from files is escaped.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence

import pandas as pd
import streamlit as st

from core.base.validation import ForgeLensError
from dashboard import jobs, loaders, session
from dashboard.text import escape_markdown

LOG = logging.getLogger("forgelens.dashboard")
DEV_ENV = "FORGELENS_DEV"


def development() -> bool:
    """``$FORGELENS_DEV`` set (to anything but 0): errors reach Streamlit's own display."""
    return os.environ.get(DEV_ENV, "0") not in ("", "0")


def damaged_records(root: str) -> list[dict]:
    return loaders.get_store(root).damaged()


def sidebar_notice(root: str) -> None:
    """One line in the sidebar when the store holds damaged (quarantined) items."""
    records = damaged_records(root)
    if records:
        st.sidebar.warning(
            f"{len(records)} damaged item(s) of the store were set aside and "
            "are left out of every page; the Run page lists them.",
            icon=":material/broken_image:",
        )


def damaged_table(root: str) -> pd.DataFrame:
    """Kind, id, reason and time of every quarantined item (plain text for st.dataframe)."""
    rows = []
    for record in damaged_records(root):
        when = datetime.datetime.fromtimestamp(float(record.get("quarantined") or 0.0))
        rows.append(
            {
                "kind": str(record.get("kind")),
                "id": str(record.get("id")),
                "problem": str(record.get("reason")),
                "set aside": f"{when:%Y-%m-%d %H:%M}",
                "moved to": str(record.get("moved_to") or "left in place (read-only)"),
            }
        )
    return pd.DataFrame(rows, columns=["kind", "id", "problem", "set aside", "moved to"])


def damaged_section(root: str) -> None:
    """The Run page's list of damaged items (nothing when the store is intact)."""
    table = damaged_table(root)
    if table.empty:
        return
    st.subheader("Damaged items")
    st.caption(
        "These failed their checksum or could not be read. They were moved to "
        "`_quarantine/` in the run store (never deleted) and are left out of every page "
        "and table; the next sweep that needs a run or pool computes it again. "
        "`python -m core list --damaged` prints the same list."
    )
    st.dataframe(table, hide_index=True, width="stretch")


def show_page_error(error: Exception) -> None:
    """A short message for an error that escaped a page; the traceback goes to the log."""
    LOG.error("page failed", exc_info=error)
    if isinstance(error, ForgeLensError):
        text = escape_markdown(str(error))
    else:
        text = (
            f"Something went wrong while drawing this page ({type(error).__name__}). The "
            "details are in the server log; the other pages may still work."
        )
    st.error(
        text + " If the run store was damaged, `python -m core list --damaged` names "
        "what was set aside.",
        icon=":material/error:",
    )
    if st.button("Try again", icon=":material/refresh:"):
        st.rerun()


@contextlib.contextmanager
def page_errors() -> Iterator[None]:
    """Around a page (``dashboard/app.py``) or a part of one: an error escaping it becomes a
    short message (details in the server log); with FORGELENS_DEV=1 Streamlit's own display.
    st.stop/st.rerun are BaseExceptions and pass."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - any error a page raises
        if development():
            raise
        show_page_error(error)


def page_fragment(body: Callable[[], None]) -> Callable[[], None]:
    """``st.fragment`` for a page's interactive part (a change inside reruns only that part),
    under ``page_errors``: Streamlit shows an exception raised in a fragment itself, traceback
    included, instead of letting it reach ``dashboard/app.py``."""

    @st.fragment
    @functools.wraps(body)
    def guarded() -> None:
        with page_errors():
            body()

    return guarded


def submit_sweep(
    root: str,
    scenario: str,
    methods: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    **options,
) -> str | None:
    """Submit through the store's queue and say what happened; returns the job id or None."""
    try:
        submitted = jobs.submit_job(
            root, scenario, list(methods), list(budgets), list(seeds), **options
        )
    except ForgeLensError as error:
        st.error(escape_markdown(str(error)), icon=":material/block:")
        return None
    st.session_state.setdefault(session.WATCHED_JOBS, []).append(submitted.job_id)
    n_runs = len(methods) * len(budgets) * len(seeds)
    if submitted.duplicate:
        st.info(
            f"The same sweep is already {submitted.state}: job {submitted.job_id} (below). "
            "It was not started again.",
            icon=":material/content_copy:",
        )
    elif submitted.state == jobs.QUEUED:
        position = jobs.queue_position(root, submitted.job_id)
        st.success(
            f"Queued job {submitted.job_id}: {n_runs} runs, position {position}; it "
            "starts when a running sweep ends. The same sweep from a shell:"
        )
    else:
        st.success(f"Started job {submitted.job_id}: {n_runs} runs. The same sweep from a shell:")
    if not submitted.duplicate:
        request = jobs.job_status(root, submitted.job_id).request
        st.code(jobs.shell_command(jobs.job_queue.job_command(root, request)), language="bash")
    return submitted.job_id


def memory_caption(scenario: str, adaptation: str | None) -> None:
    """The sweep's memory estimate against what the machine has free now."""
    from core.run.resources import available_memory, gib, sweep_memory_estimate

    estimate = sweep_memory_estimate(scenario, adaptation)
    free = available_memory()
    st.caption(
        f":material/memory: Expected peak memory of this sweep: about {gib(estimate)}"
        + (f"; {gib(free)} is free now." if free is not None else ".")
        + f" At most {jobs.job_queue.max_jobs()} sweep(s) run at once; more wait in the "
        "queue."
    )
