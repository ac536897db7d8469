"""The Run page's own-data form: its live checks, and in Chromium: fill it for a generated
folder, save, launch a sweep, open the gap page on the new scenario."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.storage.store import RunStore
from dashboard.scenario_form import folder_counts, text_counts
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, served
from tests.helpers.image_folders import make_folder

SHOTS = Path(os.environ.get("FORGELENS_SHOTS", "/tmp/forgelens-shots"))


def test_folder_counts_tabulate_domains_and_classes(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "data")
    (folder / "c" / "dog" / "000.png").unlink()
    counts, scan = folder_counts(str(folder))
    assert list(counts.index) == ["a", "b", "c"]
    assert counts.loc["c", "dog"] == 7 and counts.loc["c", "images"] == 23
    assert (counts["classes"] == 3).all()


def test_text_counts_tabulate_domains_and_labels(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "t.csv"
    pd.DataFrame(
        {"text": ["a", "b", "c"], "label": ["x", "y", "x"], "domain": ["d1", "d1", "d2"]}
    ).to_csv(path, index=False)
    counts = text_counts([str(path)], "text", "label", "domain")
    assert counts.loc["d1", "rows"] == 2 and counts.loc["d2", "x"] == 1


def _choose(page, label: str, option: str, *, drop_last: int = 0) -> None:
    """Type ``option`` into the multiselect ``label`` after removing its last ``drop_last``
    choices (Backspace in an empty input removes the last tag)."""
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label).first
    box.locator("input").click()
    for _ in range(drop_last):
        page.keyboard.press("Backspace")
    if option:
        page.keyboard.type(option)
        page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent")
def test_the_form_saves_a_folder_scenario_that_a_sweep_and_the_gap_page_use(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    folder = make_folder(tmp_path / "data")
    root = tmp_path / "runs"
    root.mkdir()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with served(root, tmp_path / "server.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(f"{url}/run")
        page.get_by_text("Add a scenario from your own data").click()
        page.get_by_role("textbox", name="Scenario name").fill("tiny-folder")
        page.get_by_role("textbox", name="Scenario name").press("Enter")
        page.get_by_role("textbox", name="Folder").fill(str(folder))
        page.get_by_role("textbox", name="Folder").press("Enter")
        page.get_by_text("Source domain(s)").wait_for(timeout=60_000)
        _choose(page, "Source domain(s)", "a")
        _choose(page, "Target domain(s)", "b")
        _choose(page, "Target domain(s)", "c")
        page.get_by_text('target = ["b", "c"]').wait_for(timeout=30_000)
        page.screenshot(path=str(SHOTS / "form_filled.png"), full_page=True)
        page.get_by_role("button", name="Check and save").click()
        page.get_by_text("Saved scenario").wait_for(timeout=60_000)
        assert (root / "_scenarios" / "tiny-folder.toml").is_file()
        page.get_by_text("Precompute the UMAP views").click()  # keep the sweep short:
        _choose(page, "Selectors", "", drop_last=6)  # random, margin
        _choose(page, "Seeds", "", drop_last=2)  # seed 0
        page.screenshot(path=str(SHOTS / "form_sweep.png"), full_page=True)
        page.get_by_role("button", name="Launch").click()
        page.get_by_text("Started job").wait_for(timeout=60_000)
        assert page.get_by_text("4 runs").count() >= 1
        page.screenshot(path=str(SHOTS / "form_launched.png"), full_page=True)
        deadline = time.time() + 400
        while len(RunStore(root).run_ids()) < 4 and time.time() < deadline:
            time.sleep(2)
        assert len(RunStore(root).run_ids()) == 4, list((root / "_jobs").glob("*.log"))
        configs = [RunStore(root).load_config(r)["config"] for r in RunStore(root).run_ids()]
        assert {c["scenario"] for c in configs} == {"tiny-folder"}
        page.goto(f"{url}/gap")
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=120_000)
        page.wait_for_timeout(2000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(SHOTS / "form_gap.png"), full_page=True)
        page.goto(f"{url}/accuracy")
        heading = page.get_by_text("By target domain")
        heading.wait_for(timeout=120_000)
        table = page.locator('[data-testid="stDataFrame"]').last
        table.scroll_into_view_if_needed()
        table.locator("canvas").first.wait_for(timeout=30_000)
        page.wait_for_timeout(3000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(SHOTS / "form_accuracy.png"))
        browser.close()


def test_the_form_decodes_the_images_and_never_saves_over_a_name_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers.app import open_app
    from tests.helpers.markdown import unescape_markdown

    folder = make_folder(tmp_path / "data")
    broken = sorted((folder / "b").rglob("*.png"))[0]
    broken.write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    root = tmp_path / "runs"
    root.mkdir()
    at = open_app(root, monkeypatch, "run")

    def field(kind: str, label: str):
        return next(w for w in getattr(at.main, kind) if w.label == label)

    def save_button():
        return next(b for b in at.main.button if b.label == "Check and save")

    field("text_input", "Scenario name").input("tiny").run()
    field("text_input", "Folder").input(str(folder)).run()
    field("multiselect", "Source domain(s)").set_value(["a"]).run()
    field("multiselect", "Target domain(s)").set_value(["b"]).run()
    errors = " ".join(unescape_markdown(e.value) for e in at.main.error)
    assert "1 of all 48 images do not decode" in errors and str(broken) in errors
    assert save_button().disabled  # no saving while a problem is shown
    field("checkbox", "Skip unreadable images (and count them)").check().run()
    assert not at.main.error and not save_button().disabled
    assert any("Decoded all 48 images" in c.value for c in at.main.caption)
    save_button().click().run()
    assert (root / "_scenarios" / "tiny.toml").is_file()
    assert any("Saved scenario" in s.value for s in at.main.success)
    field("text_input", "Scenario name").input("tiny2").run()
    assert not at.main.success  # the message of the earlier save is gone
    field("text_input", "Scenario name").input("tiny").run()  # an existing name: say so
    replace = next(c for c in at.main.checkbox if "exists: replace" in unescape_markdown(c.label))
    assert save_button().disabled and not replace.value
    replace.check().run()
    assert not save_button().disabled
    field("text_input", "Scenario name").input("debug").run()
    assert any("built-in" in unescape_markdown(e.value) for e in at.main.error)
    assert save_button().disabled
