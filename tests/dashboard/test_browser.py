"""Serve the app with the README's command and check every page in headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.store import RUNS_ENV

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
CHART_PAGES = ("gap", "umap", "accuracy", "compare", "teaching")
TEXT_PAGES = {"": "ForgeLens", "run": "Run a sweep"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is absent (CI installs Debian's chromium)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served_app(debug_store: Path, tmp_path: Path):
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=REPO,
                              env={**os.environ, RUNS_ENV: str(debug_store)},
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    log.flush()
                    pytest.fail("the app did not start:\n"
                                + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _box_select_shows_pairs(page) -> None:
    """Drag a box over panel (a): the page reruns and shows the selected pairs."""
    page.wait_for_timeout(1500)  # let plotly finish its first layout
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
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
            elsewhere = []  # issue 12: icons and fonts come from the app, nothing from outside
            page.on("request", lambda r: elsewhere.append(r.url) if urlsplit(r.url).netloc not in (
                "", urlsplit(served_app).netloc) else None)
            for path, title in TEXT_PAGES.items():
                page.goto(f"{served_app}/{path}")
                page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
                assert page.locator('[data-testid="stException"]').count() == 0, path
            for path in CHART_PAGES:
                page.goto(f"{served_app}/{path}")
                page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=90_000)
                assert page.locator('[data-testid="stException"]').count() == 0, path
                assert page.locator(".js-plotly-plot").count() >= 1, path
                if path == "gap":
                    _box_select_shows_pairs(page)
            page.wait_for_timeout(1000)  # late icon / font requests
            assert elsewhere == [], f"requests to other hosts: {sorted(set(elsewhere))}"
        finally:
            browser.close()
