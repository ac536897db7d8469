"""Serve the app with the README's command and check every page of the navigation table in
headless Chromium. Every wait is for a condition (a heading, a drawn chart, a selection), never
for a fixed time."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dashboard.navigation import PAGES
from tests.helpers.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    box_select,
    click_every_modebar_button,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (CI installs Debian's chromium)"
    ),
]


def _box_select_shows_pairs(page) -> None:
    """Drag a box over panel (a): the page reruns and shows the selected pairs."""
    box_select(page)
    page.get_by_text("selected point(s)").first.wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stImage"] img').count() >= 2


IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning';
}"""
ALL_DRAWN_JS = """() => [...document.querySelectorAll('.forgelens-chart')]
  .every((chart) => chart.querySelector('.main-svg'))"""
UNKNOWN_TRACES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap((gd) =>
  (gd.data || []).map((trace, i) => [trace.type || 'scatter',
                                    ((gd._fullData || []).find((f) => f.index === i) || {}).type])
  .filter(([asked, drawn]) => asked !== drawn))"""


def test_every_page_renders_without_exceptions(served_app: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            elsewhere = []  # icons and fonts come from the app, nothing from outside
            page.on(
                "request",
                lambda r: (
                    elsewhere.append(r.url)
                    if urlsplit(r.url).netloc not in ("", urlsplit(served_app).netloc)
                    else None
                ),
            )
            for spec in PAGES:
                path = "" if spec.default else spec.url_path
                page.goto(f"{served_app}/{path}")
                page.locator("h1").first.wait_for(timeout=90_000)
                if spec.charts:
                    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=90_000)
                    page.wait_for_function(IDLE_JS, timeout=90_000)
                    charts = page.locator(".forgelens-chart")
                    for i in range(charts.count()):  # those further down draw when scrolled to
                        charts.nth(i).scroll_into_view_if_needed()
                    page.wait_for_function(ALL_DRAWN_JS, timeout=90_000)
                    # plotly.js draws a trace type it does not know as a scatter, silently
                    assert page.evaluate(UNKNOWN_TRACES_JS) == [], spec.file
                assert page.locator('[data-testid="stException"]').count() == 0, spec.file
                assert (page.locator(".js-plotly-plot").count() >= 1) == spec.charts, spec.file
                if spec.url_path == "gap":
                    _box_select_shows_pairs(page)
                if spec.charts:  # nothing a mode bar offers may reach another host
                    clicked = click_every_modebar_button(page)
                    assert any("download" in t.lower() for t in clicked), (spec.file, clicked)
                    page.wait_for_function(IDLE_JS, timeout=90_000)
                    assert page.locator('[data-testid="stException"]').count() == 0, spec.file
            # /home is Home too (the default page is served at /), the link's view kept
            page.goto(f"{served_app}/home?scenario=debug")
            page.get_by_role("heading", name="ForgeLens").first.wait_for(timeout=90_000)
            page.wait_for_function(IDLE_JS, timeout=90_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert "scenario=debug" in page.url
            page.wait_for_timeout(1000)  # late icon / font requests
            assert elsewhere == [], f"requests to other hosts: {sorted(set(elsewhere))}"
        finally:
            browser.close()


TITLE_BOXES_JS = """(plot) => {
  const boxes = [...plot.querySelectorAll(
    '.g-gtitle text, .annotation-text, .g-xtitle text, .g-ytitle text, .cbtitle text')]
    .filter((el) => (el.textContent || '').trim())
    .map((el) => { const r = el.getBoundingClientRect();
                   return {text: el.textContent.trim(), x: r.x, y: r.y, w: r.width, h: r.height}; })
    .filter((b) => b.w > 0 && b.h > 0);
  const bar = plot.querySelector('.modebar');
  const r = bar ? bar.getBoundingClientRect() : null;
  return {boxes, modebar: r && r.width > 0 ? {text: 'mode bar', x: r.x, y: r.y, w: r.width,
                                              h: r.height} : null};
}"""


def _overlap(a: dict, b: dict, slack: float = 1.0) -> bool:
    return (
        min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > slack
        and min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > slack
    )


@pytest.mark.parametrize("width", [820, 1400])
def test_titles_do_not_overlap_from_800_px(served_app: str, width: int) -> None:
    """Every chart's titles, panel titles, axis titles and colour-bar titles keep apart, and
    the mode bar (shown on hover) covers none of them, at 820 and 1400 px."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000})
            for spec in [p for p in PAGES if p.charts]:
                page.goto(f"{served_app}/{spec.url_path}")
                page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=90_000)
                page.wait_for_function(IDLE_JS, timeout=90_000)
                charts = page.locator(".forgelens-chart")
                for i in range(charts.count()):
                    charts.nth(i).scroll_into_view_if_needed()
                page.wait_for_function(ALL_DRAWN_JS, timeout=90_000)
                plots = page.locator(".js-plotly-plot")
                for i in range(plots.count()):
                    plot = plots.nth(i)
                    plot.scroll_into_view_if_needed()
                    plot.hover()  # the mode bar shows
                    page.wait_for_timeout(300)
                    found = plot.evaluate(TITLE_BOXES_JS)
                    boxes = found["boxes"]
                    clashes = [
                        (a["text"], b["text"])
                        for j, a in enumerate(boxes)
                        for b in boxes[j + 1 :]
                        if _overlap(a, b)
                    ]
                    if found["modebar"]:
                        clashes += [
                            ("mode bar", b["text"]) for b in boxes if _overlap(found["modebar"], b)
                        ]
                    assert clashes == [], (spec.url_path, width, i, clashes)
        finally:
            browser.close()
