"""Pages on a text scenario (tweets): pool samples appear as their (escaped) tweet texts, taken
from the same scenario slice the runs were made on."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.storage.store import RunStore
from dashboard.text import quote_markdown
from tests.helpers.app import open_app
from tests.helpers.markdown import unescape_markdown


def _quotes(at) -> list[str]:
    """Block quotes on the page, as rendered text (escapes removed)."""
    return [unescape_markdown(m.value[2:]) for m in at.markdown if m.value.startswith("> ")]


def _run_id(root: Path, **equal) -> str:
    runs = RunStore(root).finished_runs()
    for column, value in equal.items():
        runs = runs[runs[column] == value]
    (run_id,) = runs["run_id"]
    return run_id


def test_gap_page_shows_the_tweets_of_the_largest_gap_pairs(
    text_store: Path, text_slice, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(text_store, monkeypatch, "gap")
    assert at.sidebar.selectbox[0].value == text_slice.name
    method = at.main.selectbox[0].value
    pairs = RunStore(text_store).load_table(_run_id(text_store, method=method), "pairs")
    rows = pairs[pairs["space"] == "badge"].nlargest(6, "gap")
    expected = [
        text_slice.preview("target_pool", int(i))
        for row in rows.itertuples()
        for i in (row.idx, row.nn_idx)
    ]
    assert all(isinstance(t, str) for t in expected)
    markdown = [m.value for m in at.markdown]
    for text in expected:
        assert quote_markdown(text) in markdown
    assert [unescape_markdown(quote_markdown(t))[2:] for t in expected] == _quotes(at)
    assert not at.get("image")
    assert not any("No texts" in c.value for c in at.caption)


def test_umap_page_shows_the_tweets_of_the_first_picks(
    text_store: Path, text_slice, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(text_store, monkeypatch, "projection")
    shown = next(m for m in at.main.multiselect if m.label.startswith("Selectors")).value
    assert shown[0] == "random"
    picks = RunStore(text_store).load_table(_run_id(text_store, method="random"), "selection")
    first = picks.sort_values("order")["idx"].head(8).tolist()
    texts = [text_slice.preview("target_pool", int(i)) for i in first]
    assert _quotes(at) == [unescape_markdown(quote_markdown(t))[2:] for t in texts]
    dollar = [quote_markdown(t) for t in texts if "$" in t]
    assert all("\\$" in q and "$" not in q.replace("\\$", "") for q in dollar)
    assert not at.get("image")
