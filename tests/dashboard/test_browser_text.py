"""Store and user text is shown as text, in a real browser: a store whose every text field
the pages show carries Markdown images, links and HTML pointing at another host. No request
may leave for that host and no link or image may point there, on any page."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.scenarios.scenario_file import SCENARIOS_DIR
from core.storage.integrity import QUARANTINE, sha256_file
from core.storage.store import DONE, JOBS, RunStore
from dashboard.navigation import PAGES
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, served

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (CI installs Debian's chromium)"
    ),
]

EVIL_HOST = "evil.example"
PAYLOAD = (
    f"![i](http://{EVIL_HOST}/md.png) [l](http://{EVIL_HOST}/md) "
    f'<img src="http://{EVIL_HOST}/html.png"> <a href="http://{EVIL_HOST}/html">a</a> '
    f"http://{EVIL_HOST}/auto"
)
PLANTED = "20260101-000000-0e0e0e"


def _reseal(folder: Path, changed: str) -> None:
    """Update one file's checksum in a folder's DONE manifest (a store writer's edit)."""
    done = json.loads((folder / DONE).read_text())
    done["files"][changed] = sha256_file(folder / changed)
    (folder / DONE).write_text(json.dumps(done))


def _plant_text(root: Path) -> None:
    """PAYLOAD in every text field a page shows: run configs, pool metadata (class names,
    sizes), a saved scenario, job files, progress, logs and quarantine records."""
    store = RunStore(root)
    for run_id in store.run_ids():
        path = root / run_id / "config.json"
        info = json.loads(path.read_text())
        hparams = info["config"]["hparams"]
        hparams.update(adapt_optimizer=PAYLOAD, arch=PAYLOAD, width=PAYLOAD)
        path.write_text(json.dumps(info))
        _reseal(root / run_id, "config.json")
    for pool in (root / "_pools").iterdir():
        path = pool / "meta.json"
        meta = json.loads(path.read_text())
        summary = meta["scenario_summary"]
        summary["class_names"] = [f"{PAYLOAD} {i}" for i in range(len(summary["class_names"]))]
        summary["sizes"] = {key: PAYLOAD for key in summary["sizes"]}
        path.write_text(json.dumps(meta))
        _reseal(pool, "meta.json")
    scenarios = root / SCENARIOS_DIR
    scenarios.mkdir(exist_ok=True)
    (scenarios / "planted.toml").write_text(f'kind = "image-folder"\nroot = "{PAYLOAD}"\n')
    jobs_dir = root / JOBS
    jobs_dir.mkdir(exist_ok=True)
    (jobs_dir / f"{PLANTED}.json").write_text(
        json.dumps({"job_id": PLANTED, "scenario": PAYLOAD, "methods": [PAYLOAD]})
    )
    valid = PLANTED[:-1] + "f"
    (jobs_dir / f"{valid}.json").write_text(
        json.dumps(
            {
                "job_id": valid,
                "scenario": "debug",
                "methods": ["random"],
                "budgets": [0.1],
                "seeds": [0],
                "stopped": 1.0,
            }
        )
    )
    event = {"stage": "adapt", "message": PAYLOAD, "n_runs": 2, "run_index": 0}
    (jobs_dir / f"{valid}.jsonl").write_text(json.dumps(event) + "\n")
    (jobs_dir / f"{valid}.log").write_text(PAYLOAD)
    quarantine = root / QUARANTINE
    quarantine.mkdir(exist_ok=True)
    record = {"kind": PAYLOAD, "id": PAYLOAD, "reason": PAYLOAD, "quarantined": 1.0}
    (quarantine / "planted.json").write_text(json.dumps(record))


OPEN_EXPANDERS_JS = """() => document.querySelectorAll('[data-testid="stExpander"] details')
  .forEach((d) => { d.open = true; })"""
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning';
}"""
EVIL_ELEMENTS_JS = f"""() => [...document.querySelectorAll('a[href], img[src], [srcset]')]
  .filter((e) => [e.getAttribute('href'), e.getAttribute('src'), e.getAttribute('srcset')]
    .some((url) => url && url.includes('{EVIL_HOST}')))
  .map((e) => {{
    const box = e.closest('[data-testid^="st"]');
    return (box ? box.getAttribute('data-testid') : '?') + ': ' +
      (box ? box.innerText : e.outerHTML).slice(0, 100);
  }})"""


def test_store_text_is_shown_as_text_on_every_page(debug_store: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    root = tmp_path / "store"
    shutil.copytree(debug_store, root, ignore=shutil.ignore_patterns(JOBS))
    _plant_text(root)
    env = {k: v for k, v in os.environ.items() if k != "FORGELENS_DEV"}
    with (
        served(root, tmp_path / "server.log", env) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            elsewhere: list[str] = []
            at = ["home"]
            page.on(
                "request",
                lambda r: (
                    elsewhere.append(f"{at[0]}: {r.url}")
                    if urlsplit(r.url).netloc not in ("", urlsplit(url).netloc)
                    else None
                ),
            )
            found: dict[str, list[str]] = {}
            shown: set[str] = set()
            for spec in PAGES:
                at[0] = spec.url_path
                page.goto(f"{url}/{'' if spec.default else spec.url_path}")
                page.locator("h1").first.wait_for(timeout=90_000)
                page.wait_for_function(IDLE_JS, timeout=90_000)
                page.evaluate(OPEN_EXPANDERS_JS)
                page.wait_for_timeout(500)
                found[spec.url_path] = page.evaluate(EVIL_ELEMENTS_JS)
                if EVIL_HOST in page.inner_text("body"):
                    shown.add(spec.url_path)
            page.wait_for_timeout(1000)
        finally:
            browser.close()
    assert {path: urls for path, urls in found.items() if urls} == {}
    assert elsewhere == [], f"requests to other hosts: {sorted(set(elsewhere))}"
    assert {"run"} <= shown, shown  # the planted text was on screen, as text
