"""The README's "Decide what to label" example, run line by line (on the debug scenario instead
of digits-to-mnist, to stay fast), then its store opened on the Picks page in Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, served

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    """The command lines of the section's bash block (comments left out)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Decide what to label\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def example(debug_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(store, pick id) after the README's lines ran in a fresh folder."""
    work = tmp_path_factory.mktemp("label_example")
    store = work / "runs"
    shutil.copytree(debug_store / "_models", store / "_models")  # the debug source model
    env = {**os.environ, "FORGELENS_RUNS": str(store), "PYTHONPATH": str(ROOT)}
    pick_id = ""
    for line in readme_commands():
        command = line.replace(".venv/bin/python", sys.executable)
        command = command.replace("digits-to-mnist", "debug").replace("PICK_ID", pick_id)
        done = subprocess.run(
            command, shell=True, cwd=work, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (line, done.stderr[-2000:])
        if " pick " in line:
            pick_id = re.match(r"pick (\w+)", done.stdout)[1]
    return store, pick_id


def test_the_readme_example_picks_labels_and_adapts(example) -> None:
    store, pick_id = example
    work = store.parent
    manifest = pd.read_csv(work / "to_label" / "manifest.csv")
    assert len(manifest) == 100 and list(manifest["rank"]) == list(range(1, 101))
    assert len(pd.read_csv(work / "labels.csv")) == 100
    assert (work / "head.safetensors").is_file()
    assert pd.read_parquet(work / "target.parquet").columns.tolist().count("label") == 0
    assert (store / "_picks" / pick_id / "DONE").is_file()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent")
def test_the_picks_page_shows_the_example_in_a_browser(example, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    store, pick_id = example
    with served(store, tmp_path / "server.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            page.goto(f"{url}/picks")
            page.get_by_text(re.compile(r"^#1 pool-\d+ →")).first.wait_for(timeout=90_000)
            # the example's file holds ids, z and logits only: the picks are listed by id
            page.get_by_text("the picks are listed by id").first.wait_for(timeout=30_000)
            assert page.get_by_text(re.compile(r"^#24 pool-\d+ →")).count() == 1
            page.get_by_text("predictions flipped").first.scroll_into_view_if_needed()
            page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=90_000)
            with page.expect_download() as info:
                page.get_by_role("button", name="manifest.csv").first.click()
            downloaded = Path(info.value.path()).read_bytes()
            assert downloaded == (store / "_picks" / pick_id / "manifest.csv").read_bytes()
            assert page.locator('[data-testid="stException"]').count() == 0
            page.goto(f"{url}/gap")
            page.get_by_text("would unlock Figure 5").first.wait_for(timeout=90_000)
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent")
def test_umap_and_compare_show_the_example_pick_in_a_browser(example, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    store, pick_id = example
    with served(store, tmp_path / "server.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width in (820, 1400):
                page = browser.new_page(viewport={"width": width, "height": 1100})
                page.goto(f"{url}/umap")
                page.get_by_text(f"forge · seed 0 · 100 · {pick_id[:6]}").last.wait_for(
                    timeout=120_000
                )  # the panel title, drawn once the map is computed (then cached)
                page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
                page.get_by_text(re.compile(r"^#1 pool-\d+ →")).first.wait_for(timeout=30_000)
                assert page.locator('[data-testid="stException"]').count() == 0
                page.goto(f"{url}/compare")
                page.get_by_text("Predicted-class mix of the picks").first.wait_for(timeout=90_000)
                page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
                assert page.locator('[data-testid="stException"]').count() == 0
                page.close()
        finally:
            browser.close()
