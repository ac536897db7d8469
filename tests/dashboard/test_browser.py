"""Serve the app with the README's command and check every page of the navigation table in
headless Chromium. Every wait is for a condition (a heading, a drawn chart, a selection), never
for a fixed time."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dashboard.navigation import PAGES
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS

STABLE_DRAG_LAYER = """() => {
  const el = document.querySelector('.js-plotly-plot .nsewdrag');
  if (!el) return false;
  const r = el.getBoundingClientRect();
  const key = [r.x, r.y, r.width, r.height].join();
  window.__dragFrames = window.__dragKey === key ? (window.__dragFrames || 0) + 1 : 0;
  window.__dragKey = key;
  return r.width > 50 && r.height > 50 && window.__dragFrames >= 10;
}"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (CI installs Debian's chromium)"
    ),
]


def _box_select_shows_pairs(page) -> None:
    """Drag a box over panel (a): the page reruns and shows the selected pairs."""
    drag = page.locator(".js-plotly-plot .nsewdrag").first
    drag.wait_for(state="visible", timeout=60_000)
    # plotly has finished its layout once the drag layer keeps one non-zero size for 10 frames
    page.wait_for_function(STABLE_DRAG_LAYER, polling="raf", timeout=60_000)
    box = drag.bounding_box()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"])
    page.locator('.modebar-btn[data-title="Box Select"]').first.click()  # drag zooms by default
    page.mouse.move(box["x"] + 0.02 * box["width"], box["y"] + 0.02 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.98 * box["width"], box["y"] + 0.98 * box["height"], steps=10)
    page.mouse.up()
    page.get_by_text("selected point(s)").first.wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stImage"]').count() >= 2


def test_every_page_renders_without_exceptions(served_app: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
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
                assert page.locator('[data-testid="stException"]').count() == 0, spec.file
                assert (page.locator(".js-plotly-plot").count() >= 1) == spec.charts, spec.file
                if spec.url_path == "gap":
                    _box_select_shows_pairs(page)
            page.wait_for_timeout(1000)  # late icon / font requests
            assert elsewhere == [], f"requests to other hosts: {sorted(set(elsewhere))}"
        finally:
            browser.close()
