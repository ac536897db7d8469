"""Browser flows of issue 12 in headless Chromium: click a point -> its pair, the downloads in
screen units, and a page that updates by itself while a sweep runs."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from core.storage.store import RunStore
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, box_select, served

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (CI installs Debian's chromium)"
    ),
]

FIRST_POINT_JS = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  const trace = gd._fullData.find(t => t.customdata && t.x && t.x.length);
  const xa = gd._fullLayout[trace.xaxis.replace('x', 'xaxis')];
  const ya = gd._fullLayout[trace.yaxis.replace('y', 'yaxis')];
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(trace.x[0]),
          y: box.top + ya._offset + ya.l2p(trace.y[0]), idx: trace.customdata[0][1],
          seed: trace.customdata[0][2]};
}"""


def _browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning';
}"""


def _download(page, label: str) -> bytes:
    """Click a download button once the page's script has finished (as a user who sees the
    whole page would) and return the file."""
    page.wait_for_function(IDLE_JS, timeout=90_000)
    with page.expect_download() as info:
        page.get_by_role("button", name=label).first.click()
    return Path(info.value.path()).read_bytes()


def test_click_a_point_shows_its_pair_and_downloads_match_the_screen(
    served_app: str, debug_store: Path
) -> None:  # noqa: F811 - the imported fixture
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            page.goto(f"{served_app}/gap")
            page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=90_000)
            page.wait_for_timeout(1500)
            point = page.evaluate(FIRST_POINT_JS)
            page.mouse.move(point["x"], point["y"])
            hover = page.locator(".hoverlayer .hovertext").first
            hover.wait_for(timeout=10_000)
            # the hover names the sample and its seed (the point under the mouse may be another
            # than the first one, where points overlap): "x′ #123 · seed 1"
            match = re.search(r"x′ #(\d+) · seed (\d+)", hover.text_content())
            assert match, hover.text_content()
            page.mouse.click(point["x"], point["y"])
            page.get_by_text("1 selected point(s)").first.wait_for(timeout=60_000)
            page.get_by_text(f"x′ #{match[1]}").first.wait_for(timeout=30_000)
            assert page.get_by_text(f"seed {match[2]} ·").count() >= 1
            assert page.locator('[data-testid="stImage"] img').count() >= 2  # both thumbnails
            assert page.locator('[data-testid="stException"]').count() == 0
            pairs = pd.read_csv(io.BytesIO(_download(page, "pairs (CSV)")))
            assert {"idx", "seed", "nn_idx", "gap", "budget_pct", "space"} <= set(pairs.columns)
            assert set(pairs["method"]) == {"badge"} and set(pairs["budget_pct"]) == {10.0}

            page.goto(f"{served_app}/accuracy")
            page.get_by_role("button", name="per-seed rows, in % (CSV)").wait_for(timeout=90_000)
            rows = pd.read_csv(io.BytesIO(_download(page, "per-seed rows, in % (CSV)")))
            store = RunStore(debug_store)
            run = rows.iloc[0]
            stored = store.load_table(run["run_id"], "accuracy")
            stored = stored[(stored["split"] == run["split"]) & (stored["stage"] == run["stage"])]
            assert run["accuracy_pct"] == pytest.approx(100 * stored["accuracy"].iloc[0])
            assert rows["seed"].nunique() == 2  # one row per seed, not only the mean

            page.goto(f"{served_app}/umap?space=forge")  # the cached UMAP
            page.get_by_role("button", name="Map points and picks (CSV)").wait_for(timeout=90_000)
            points = pd.read_csv(io.BytesIO(_download(page, "Map points and picks (CSV)")))
            picks = store.load_table(points_run(store, points), "selection")
            method = next(c for c in points.columns if c.startswith("order_"))
            assert len(points) == len(store.load_pool(store.finished_runs()["pool_id"][0]))
            assert points[method].notna().sum() == len(picks)  # each pick, with its order

            page.goto(f"{served_app}/compare")
            page.get_by_role("button", name="Class mix (CSV)").wait_for(timeout=90_000)
            mix = pd.read_csv(io.BytesIO(_download(page, "Class mix (CSV)")))
            pool_share = mix[mix["method"] == "pool"]["fraction_pct"]
            assert pool_share.sum() == pytest.approx(100.0)  # percent, as the bars show
        finally:
            browser.close()


PANELS_JS = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  return gd && gd._fullLayout ? gd.querySelectorAll('.cartesianlayer .subplot').length : 0;
}"""


BACKGROUND_JS = """() => {
  const layout = document.querySelector('.js-plotly-plot')._fullLayout;
  return [layout.paper_bgcolor, layout.font.color];
}"""


def test_a_widget_change_redraws_the_chart_in_place(served_app: str) -> None:
    """dashboard.live_chart: a new figure goes into the same plot <div> (Plotly.react, one
    WebGL context), not into a newly mounted chart; a selection from the old figure is
    dropped (its row keys may name other rows now) without a second rerun; a dark app theme
    gets dark charts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            sent: list = []  # messages from the browser to the server (a rerun is one)
            page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
            page.goto(f"{served_app}/gap")
            page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=90_000)
            page.wait_for_function(f"() => ({PANELS_JS})() === 3", timeout=60_000)
            page.evaluate("() => { document.querySelector('.js-plotly-plot').__mark = 1; }")
            page.wait_for_timeout(1500)
            point = page.evaluate(FIRST_POINT_JS)
            page.mouse.click(point["x"], point["y"])
            page.get_by_text("1 selected point(s)").first.wait_for(timeout=60_000)
            page.wait_for_function(IDLE_JS, timeout=60_000)
            box_select(page)  # a box, unlike a click, is cleared with an event on a redraw
            many = re.compile(r"\b([2-9]|\d{2,}) selected point\(s\)")
            page.get_by_text(many).first.wait_for(timeout=60_000)
            page.wait_for_function(IDLE_JS, timeout=60_000)

            sent.clear()
            page.get_by_text("Add the CORESET (z) space panel", exact=True).click()
            page.wait_for_function(f"() => ({PANELS_JS})() === 4", timeout=60_000)
            page.get_by_text("Until you select points").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # time for a second rerun, were there one
            page.wait_for_function(IDLE_JS, timeout=60_000)
            # the redraw clears plotly's selection: saying so would rerun the page again
            assert len(sent) == 1, f"{len(sent)} messages for one widget change"
            assert page.evaluate("() => document.querySelectorAll('.js-plotly-plot').length") == 1
            assert page.evaluate("() => document.querySelector('.js-plotly-plot').__mark") == 1
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.evaluate(BACKGROUND_JS) == ["white", "#2a3f5f"]  # plotly_white, as built

            dark = browser.new_page(viewport={"width": 1400, "height": 1100}, color_scheme="dark")
            dark.goto(f"{served_app}/gap")  # the app follows the system's dark theme; so do charts
            dark.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=90_000)
            background, text = dark.evaluate(BACKGROUND_JS)
            assert background == "rgba(0,0,0,0)"  # see-through: the app's dark background
            assert sum(map(int, re.findall(r"\d+", text)[:3])) > 3 * 128  # light text
        finally:
            browser.close()


DRAWN_JS = """() => [...document.querySelectorAll('.forgelens-chart')]
  .map((chart) => !!chart.querySelector('.main-svg'))"""


def test_a_chart_further_down_is_drawn_when_scrolled_to(served_app: str) -> None:
    """dashboard/live_chart.js: on a page of four charts, those more than half a screen below
    the visible part wait (no plotly work on the first visit), and each is drawn once the
    user scrolls to it; a chart already drawn redraws at once on a widget change."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 700})
            page.goto(f"{served_app}/theory")
            page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=90_000)
            page.wait_for_function(IDLE_JS, timeout=90_000)
            page.wait_for_timeout(1500)  # time to draw the others, were they drawn at once
            drawn = page.evaluate(DRAWN_JS)
            assert len(drawn) == 4 and drawn[0] and not drawn[-1], drawn
            page.locator(".forgelens-chart").last.scroll_into_view_if_needed()
            page.wait_for_function(f"() => ({DRAWN_JS})().at(-1)", timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0

            plot = page.locator(".js-plotly-plot").last
            plot.evaluate(
                "(gd) => { gd.__mark = 1; gd.__drawn = 0; gd.on('plotly_afterplot', "
                "() => { gd.__drawn += 1; }); }"
            )
            radio = page.locator('[data-testid="stRadio"]')
            radio.get_by_text("FORGE", exact=True).first.click()  # the pairs' space: new figures
            page.wait_for_function(IDLE_JS, timeout=60_000)
            plot.evaluate(
                "(gd) => new Promise((done) => { const check = () => gd.__drawn ? "
                "done() : setTimeout(check, 50); check(); })"
            )
            assert plot.evaluate("(gd) => gd.__mark") == 1  # the same plot, redrawn in place
        finally:
            browser.close()


def points_run(store: RunStore, points: pd.DataFrame) -> str:
    """The run whose picks the map's first selector column shows (same budget and seed)."""
    method = next(c for c in points.columns if c.startswith("order_")).removeprefix("order_")
    runs = store.finished_runs()
    match = runs[
        (runs["method"] == method)
        & (runs["seed"] == points["seed"].iloc[0])
        & ((100 * runs["budget"]).round(6) == points["budget_pct"].iloc[0])
    ]
    return match["run_id"].iloc[0]


def test_home_updates_by_itself_while_a_sweep_runs(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from dashboard import jobs
    from dashboard.widgets import LIVE_IDLE_ENV

    root = tmp_path / "live_store"
    root.mkdir()
    quick = {**os.environ, LIVE_IDLE_ENV: "3"}  # the idle tab notices the new job within 3 s
    with served(root, tmp_path / "server.log", quick) as url, sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_text("is empty").first.wait_for(timeout=90_000)
            jobs.submit_job(
                root, "debug", ["random", "forge"], [0.1], [0], device="cpu", umap=False
            )
            # no reload from here on: the open tab must notice the job and its runs
            page.get_by_text("finished runs").first.wait_for(timeout=240_000)
            page.get_by_text("Figure 5 in numbers — debug").first.wait_for(timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
