"""dashboard.live_chart: the figure it sends, the selections it accepts, the plotly.js it
serves and its fallback to st.plotly_chart (the browser side: test_browser_flows.py)."""

from __future__ import annotations

import json
from pathlib import Path

import plotly
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import live_chart
from tests.helpers.app import chart_specs, open_app

SCRIPT = """
import plotly.graph_objects as go
import streamlit as st
from dashboard import live_chart

fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 5, 6], customdata=[10, 11, 12]))
st.session_state["event"] = live_chart.plotly_chart(fig, key="chart", selectable=True)
"""


def _component(at: AppTest):
    [element] = [c for c in at.get("bidi_component") if c.proto.component_name == live_chart.NAME]
    return element


def test_sends_the_figure_with_its_revision_and_serves_plotly_from_the_app() -> None:
    at = AppTest.from_string(SCRIPT).run()
    assert not at.exception
    data = json.loads(_component(at).proto.json)
    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 5, 6], customdata=[10, 11, 12]))
    assert json.loads(data["figure"]) == json.loads(figure.to_json())
    assert data["selectable"] is True
    assert data["src"].endswith("/app/static/plotly-forgelens.min.js")  # the app's own
    assert at.session_state["event"] == {"selection": {"points": []}}


def test_a_figure_the_slim_bundle_cannot_draw_gets_the_full_one() -> None:
    at = AppTest.from_string(SCRIPT.replace("go.Scatter(x=[1, 2, 3], y=", "go.Pie(values=")).run()
    assert not at.exception
    assert json.loads(_component(at).proto.json)["src"].endswith("/app/static/plotly.min.js")


def test_the_slim_bundle_is_built_from_the_plotly_js_the_figures_are_written_for() -> None:
    slim = live_chart.STATIC_DIR / live_chart.SLIM_ASSET
    full = Path(plotly.__file__).parent / "package_data" / live_chart.ASSET
    release = live_chart._release(slim)
    assert release is not None, (
        f"{slim} is missing: run npm ci && npm run build in tools/plotly_bundle"
    )
    assert release == live_chart._release(full), "plotly changed: rebuild tools/plotly_bundle"
    header = slim.read_bytes()[:400].decode()
    for trace in live_chart.SLIM_TRACES:
        assert trace in header  # the bundle's own list of its traces
    package = json.loads(
        (
            Path(live_chart.__file__).parents[1] / "tools" / "plotly_bundle" / "package.json"
        ).read_text()
    )
    assert package["devDependencies"]["plotly.js"] == release


def test_a_slim_bundle_of_another_plotly_js_release_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / live_chart.SLIM_ASSET).write_text("/*! plotly.js v0.0.1 (traces: scatter) */")
    monkeypatch.setattr(live_chart, "STATIC_DIR", tmp_path)
    live_chart._slim_usable.cache_clear()
    live_chart._copy_asset.cache_clear()
    try:
        at = AppTest.from_string(SCRIPT).run()
        assert not at.exception
        assert json.loads(_component(at).proto.json)["src"].endswith("/plotly.min.js")
        assert (tmp_path / live_chart.ASSET).is_file()  # the full bundle, copied there
    finally:
        live_chart._slim_usable.cache_clear()
        live_chart._copy_asset.cache_clear()


def test_a_selection_counts_only_for_the_figure_it_was_made_on() -> None:
    memory: dict = {}
    assert live_chart._keys(None, "R", memory) == []
    picked = {"revision": "R", "keys": [3, 1], "id": "a"}
    assert live_chart._keys(picked, "R", memory) == [3, 1]
    assert live_chart._keys(picked, "R", memory) == [3, 1]  # a rerun with the same figure
    assert live_chart._keys(picked, "R2", memory) == []  # the figure changed: its keys may lie
    assert live_chart._keys(picked, "R", memory) == []  # back to R: the pick was erased
    again = {"revision": "R", "keys": [3, 1], "id": "b"}  # the same pick made anew
    assert live_chart._keys(again, "R", memory) == [3, 1]
    assert live_chart._keys({"revision": "R", "keys": [], "id": "c"}, "R", memory) == []


def test_asset_is_the_plotly_package_copy_and_is_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_chart, "STATIC_DIR", tmp_path / "static")
    live_chart._copy_asset.cache_clear()
    try:
        assert live_chart._copy_asset()
        copy = tmp_path / "static" / live_chart.ASSET
        source = Path(plotly.__file__).parent / "package_data" / live_chart.ASSET
        assert copy.read_bytes() == source.read_bytes()
        written = copy.stat().st_mtime_ns
        live_chart._copy_asset.cache_clear()
        assert live_chart._copy_asset()
        assert copy.stat().st_mtime_ns == written  # the same file: left alone
        assert not list((tmp_path / "static").glob("*.partial"))

        blocked = tmp_path / "file"
        blocked.write_text("not a folder")
        monkeypatch.setattr(live_chart, "STATIC_DIR", blocked)
        live_chart._copy_asset.cache_clear()
        assert live_chart._copy_asset() is False  # logged; the pages fall back
    finally:
        live_chart._copy_asset.cache_clear()


def test_pages_fall_back_to_st_plotly_chart_without_static_serving(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_chart, "asset_url", lambda fig=None: None)
    at = open_app(debug_store, monkeypatch, "gap")
    assert not at.get("bidi_component")
    assert len(at.get("plotly_chart")) == 1
    assert chart_specs(at) == [at.get("plotly_chart")[0].proto.spec]


def test_every_chart_of_every_page_is_drawn_by_the_slim_bundle(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.navigation import PAGES

    drawn = 0
    for spec in PAGES:
        at = open_app(debug_store, monkeypatch, spec if not spec.default else None)
        for chart in at.get("bidi_component"):
            if chart.proto.component_name != live_chart.NAME:
                continue
            data = json.loads(chart.proto.json)
            types = {trace.get("type", "scatter") for trace in json.loads(data["figure"])["data"]}
            assert types <= live_chart.SLIM_TRACES, (spec.file, types)
            assert data["src"].endswith(live_chart.SLIM_ASSET), spec.file
            drawn += 1
    assert drawn >= sum(spec.charts for spec in PAGES)


def test_panels_side_by_side_keep_a_width_where_they_do_not_overlap() -> None:
    """Figure 5's three panels need room for three titles; one panel needs no minimum."""
    from plotly.subplots import make_subplots

    from dashboard.figures.style import empty_figure

    panels = make_subplots(rows=1, cols=3, subplot_titles=["(a)", "(b)", "(c)"])
    three = live_chart.min_width(panels)
    assert three == 3 * live_chart.PANEL_MIN_WIDTH + live_chart.EXTRA_WIDTH
    assert live_chart.min_width(empty_figure("nothing")) is None


def test_every_chart_config_keeps_the_chart_on_this_machine() -> None:
    assert live_chart.CONFIG["showSendToCloud"] is False
    assert live_chart.CONFIG["plotlyServerURL"] == ""
    assert {"sendChartToCloud", "editInChartStudio"} <= set(
        live_chart.CONFIG["modeBarButtonsToRemove"]
    )
