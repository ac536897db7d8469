"""What the browser tests share: Debian's Chromium, its flags for a closed network, free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.bench_browser import (  # noqa: F401 - one set of browser flags, one port finder
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
)
from core.storage.store import RUNS_ENV

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def served(store: Path, log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``make run`` (the README's command) on ``store``: yields the app's URL once its health
    endpoint answers, and stops the server (its whole process group) afterwards."""
    port = free_port()
    environment = {**(os.environ if env is None else env), RUNS_ENV: str(store)}
    with log_path.open("w") as log:
        server = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 180
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.time() > deadline:
                        pytest.fail("the app did not start:\n" + log_path.read_text()[-3000:])
                    time.sleep(0.5)  # polling the health endpoint until it answers
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


STABLE_DRAG_LAYER = """() => {
  const el = document.querySelector('.js-plotly-plot .nsewdrag');
  if (!el) return false;
  const r = el.getBoundingClientRect();
  const key = [r.x, r.y, r.width, r.height].join();
  window.__dragFrames = window.__dragKey === key ? (window.__dragFrames || 0) + 1 : 0;
  window.__dragKey = key;
  return r.width > 50 && r.height > 50 && window.__dragFrames >= 10;
}"""


def box_select(page) -> None:
    """Drag a box over the first panel of the first chart (mode bar: Box Select), as a user."""
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


CLOUD_WORDS = ("share", "cloud", "studio")


def click_every_modebar_button(page) -> list[str]:
    """Click every button of every chart's mode bar on the page, as a user would (hover the
    chart, click the button); returns the buttons' titles. Fails on a button that offers to
    send the chart elsewhere (Share chart, Chart Studio)."""
    clicked = []
    plots = page.locator(".js-plotly-plot")
    for i in range(plots.count()):
        plot = plots.nth(i)
        plot.scroll_into_view_if_needed()
        titles = plot.locator(".modebar-btn").evaluate_all(
            "(buttons) => buttons.map((b) => b.getAttribute('data-title'))"
        )
        offered = [t for t in titles if any(w in (t or "").lower() for w in CLOUD_WORDS)]
        assert offered == [], f"mode bar offers {offered}"
        for title in titles:
            plot.hover()  # the mode bar shows while the pointer is over the chart
            # a click may rerun the page and redraw the chart: find the button afresh each time
            button = plot.locator(f'.modebar-btn[data-title="{title}"]').first
            button.click(force=True, timeout=30_000)
            clicked.append(title)
    return clicked
