"""Every page of the navigation table renders from a 5,000-sample store, fresh and cached
(the timings of the same renders live in benchmarks/bench_render.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from benchmarks.synthetic_store import write_synthetic_store
from core.storage.store import RUNS_ENV
from dashboard import loaders
from dashboard.navigation import PAGES
from tests.helpers.app import APP, chart_specs
from tests.helpers.markdown import unescape_markdown


@pytest.fixture(scope="module")
def large_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store_5000")
    write_synthetic_store(
        root, n=5000, methods=("random", "badge", "forge"), budgets=(0.1,), seeds=(0, 1)
    )
    return root


def test_every_page_renders_a_5000_sample_store_twice(
    large_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RUNS_ENV, str(large_store))
    blank = Image.new("L", (56, 56))  # the synthetic scenario has no images to preview
    monkeypatch.setattr(
        loaders, "thumbnails", lambda name, indices, params=None: [blank] * len(indices)
    )
    at = AppTest.from_file(APP, default_timeout=300).run()
    for spec in PAGES:
        at.switch_page(f"../pages/{spec.file}").run()  # fills the caches
        assert not at.exception, (spec.file, [e.value for e in at.exception])
        drawn = len(chart_specs(at))
        at.run()  # the cached re-render shows the same
        assert not at.exception, (spec.file, [e.value for e in at.exception])
        assert len(chart_specs(at)) == drawn, spec.file
        assert (drawn > 0) == spec.charts, (spec.file, drawn)
    monkeypatch.undo()  # a store whose scenario is not registered here: no images, no crash
    monkeypatch.setenv(RUNS_ENV, str(large_store))
    at.switch_page("../pages/gap.py").run()
    assert not at.exception
    assert any(
        "No thumbnails: scenario 'synthetic'" in unescape_markdown(c.value) for c in at.caption
    )  # file text is shown escaped
