"""Every registered selector shows up in every view: a store with runs of each one (written
without training) opens on every page of the navigation table, and the selector lists the pages
offer are the registry's, in its order. Registering a selector brings it in here unedited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.synthetic_store import write_synthetic_store
from core import selection
from dashboard import loaders
from dashboard.navigation import PAGES, RUN_FILTER_PAGES
from tests.helpers.app import open_app
from tests.helpers.markdown import unescape_markdown

NAMES = selection.available()


@pytest.fixture(scope="module")
def every_selector_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("every_selector")
    write_synthetic_store(root, n=300, methods=tuple(reversed(NAMES)), budgets=(0.1,), seeds=(0,))
    return root


@pytest.mark.parametrize("spec", PAGES, ids=lambda spec: spec.url_path)
def test_every_page_offers_every_registered_selector_in_registry_order(
    spec, every_selector_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blank = Image.new("L", (56, 56))  # the synthetic scenario has no images to preview
    monkeypatch.setattr(
        loaders, "thumbnails", lambda name, indices, params=None: [blank] * len(indices)
    )
    at = open_app(every_selector_store, monkeypatch, spec)
    selectors = [m for m in at.sidebar.multiselect if m.label == "Selectors"]
    assert len(selectors) == (spec.url_path in RUN_FILTER_PAGES)  # run filters where used
    for sidebar in selectors:
        assert list(sidebar.options) == list(NAMES) and list(sidebar.value) == list(NAMES)
    if spec.url_path == "run":  # the launch form offers every registered selector
        form = next(m for m in at.main.multiselect if m.label == "Selectors")
        assert list(form.options) == list(NAMES)
        assert list(form.value) == list(selection.default_methods())
    if spec.url_path == "accuracy":  # one table row per selector, in registry order
        table = next(m.value for m in at.markdown if "| selector |" in m.value)
        rows = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
        assert [unescape_markdown(r.strip("*")) for r in rows] == list(NAMES)


def test_runs_of_a_newer_run_format_are_named_not_shown_and_crash_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.storage.integrity import manifest
    from core.storage.store import RUN_FORMAT_VERSION
    from tests.helpers.markdown import unescape_markdown

    store = write_synthetic_store(
        tmp_path / "mixed", n=200, methods=("random", "forge"), budgets=(0.1,), seeds=(0,)
    )
    newer = store.run_dir("forge-0.1-0-full") / "config.json"
    info = json.loads(newer.read_text())
    info["config"]["format"] = RUN_FORMAT_VERSION + 1
    newer.write_text(json.dumps(info))
    sealed = manifest(newer.parent, RUN_FORMAT_VERSION, exclude=("DONE",))  # as its writer would
    (newer.parent / "DONE").write_bytes(sealed)
    at = open_app(tmp_path / "mixed", monkeypatch, "accuracy")
    warning = unescape_markdown(at.sidebar.warning[0].value)  # store text is shown escaped
    assert "1 run(s) not shown: run forge-0.1-0-full" in warning
    assert f"run format {RUN_FORMAT_VERSION + 1}" in warning and "update ForgeLens" in warning
    sidebar = next(m for m in at.sidebar.multiselect if m.label == "Selectors")
    assert list(sidebar.options) == ["random"]
