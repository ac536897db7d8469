"""What pages ask a run's task (``core.tasks``): the metric's name, the feature norm's meaning
and how one pool sample is drawn (an image, a text, a preference pair, a question with its
context and answer span). Pages call these instead of special-casing tasks.

Renderers are chosen by the preview's type, which each task's scenario returns from
``Scenario.preview``: a PIL image or a str (classification), ``TextPair`` (reward),
``QASample`` (span QA). Every text goes through ``dashboard.text`` escaping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import streamlit as st

from core.scenarios.squad_data import QASample
from core.tasks import DEFAULT_TASK, Task, get_task
from dashboard import loaders
from dashboard.text import escape_markdown, quote_markdown, snippet

if TYPE_CHECKING:  # the module needs torch; imported when a text pair is first drawn
    from core.scenarios.preference_pairs import TextPair

CONTEXT_CHARS = 420


def run_task(root: str, runs: Any) -> Task:
    """The task of the runs shown (read from the first run's pool meta)."""
    if runs is None or len(runs) == 0 or "pool_id" not in runs:
        return get_task(DEFAULT_TASK)
    meta = loaders.pool_meta(root, str(runs["pool_id"].iloc[0]))
    return get_task(meta.get("task") or DEFAULT_TASK)


def metric_name(root: str, runs: Any) -> str:
    """What the runs' ``accuracy`` column measures: accuracy, pair accuracy, exact match."""
    return run_task(root, runs).metric


def feature_norm_note(root: str, runs: Any) -> str | None:
    """A caption saying what γ's ‖z‖ is for a non-classification task, else None."""
    task = run_task(root, runs)
    return None if task.plain_norm else f"For this {task.name} task ‖z‖ is {task.feature_norm}."


def _text_pair(preview: TextPair) -> None:
    for position, text in enumerate((preview.first, preview.second)):
        mark = " — **preferred**" if position == preview.preferred else ""
        st.markdown(f"{'AB'[position]}{mark}")
        st.markdown(quote_markdown(text))


def context_markdown(sample: QASample, limit: int = CONTEXT_CHARS) -> str:
    """The context around the gold answer (escaped), the answer in bold."""
    start, end = sample.answer_start, sample.answer_start + len(sample.answer)
    if sample.answer and sample.context[start:end] == sample.answer:
        room = max(0, (limit - len(sample.answer)) // 2)
        before = sample.context[max(0, start - room) : start]
        after = sample.context[end : end + room]
        lead = "…" if start - room > 0 else ""
        tail = "…" if end + room < len(sample.context) else ""
        return (
            f"{lead}{escape_markdown(before)} **{escape_markdown(sample.answer)}** "
            f"{escape_markdown(after)}{tail}"
        )
    return escape_markdown(snippet(sample.context, limit))


def _qa_sample(preview: QASample) -> None:
    st.markdown(f"**Q:** {escape_markdown(snippet(preview.question, 200))}")
    st.markdown("> " + context_markdown(preview))


def renderer_for(preview: Any) -> Callable[[Any], None] | None:
    """The renderer of a task-specific preview, None for images and plain texts."""
    if isinstance(preview, QASample):
        return _qa_sample
    if isinstance(preview, str) or type(preview).__name__ != "TextPair":
        return None  # images and plain texts; checked by name so pages need not load torch
    from core.scenarios.preference_pairs import TextPair

    return _text_pair if isinstance(preview, TextPair) else None
