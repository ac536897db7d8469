"""The pages on an unlabelled store (picks, no runs): the Picks page lists the picks with their
manifests and what labels back changed; the analysis pages say what labels would unlock."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.run.labels_back import labels_back
from core.run.pick import pick
from core.scenarios.embeddings_file import EmbeddingsTable, write_embeddings
from dashboard.widgets import LABELS_UNLOCK
from tests.helpers.app import chart_specs, charts, open_app, texts


@pytest.fixture(scope="module")
def unlabelled_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with one pick of 12 from a 60-text embeddings pool and one labels-back result."""
    folder = tmp_path_factory.mktemp("unlabelled")
    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 8)).astype(np.float32)
    logits = (z @ rng.normal(size=(8, 3))).astype(np.float32)
    table = EmbeddingsTable(
        z=z,
        logits=logits,
        ids=tuple(f"t{i}" for i in range(60)),
        class_names=("neg", "neu", "pos"),
        text=tuple(f"<b>tweet</b> number {i} $x$" for i in range(60)),
    )
    pool = write_embeddings(folder / "pool.parquet", table)
    root = folder / "store"
    pick_id, _ = pick(root, embeddings=pool, method="forge", n_picks=12)
    manifest = pd.read_csv(root / "_picks" / pick_id / "manifest.csv")
    labels = folder / "labels.csv"
    pd.DataFrame({"id": manifest["id"], "label": ["pos"] * 12}).to_csv(labels, index=False)
    labels_back(root, pick_id, labels, steps=50)
    return root, pick_id


def test_the_picks_page_lists_the_picks_their_manifests_and_labels_back(
    unlabelled_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, pick_id = unlabelled_store
    at = open_app(root, monkeypatch, "picks")
    assert [m.value for m in at.metric][:4] == ["12", "60", "forge", "0"]
    manifest = pd.read_csv(root / "_picks" / pick_id / "manifest.csv")
    shown = at.dataframe[0].value
    assert list(shown["id"]) == list(manifest["id"]) and list(shown["rank"]) == list(range(1, 13))
    assert at.get("text")[0].value == manifest["text"][0]  # shown as typed, never as markup
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads[:3] == ["manifest.csv", "manifest.jsonl", "labelstudio.json"]
    assert "Adapted head (safetensors)" in downloads
    (figure,) = charts(at)
    summary = json.loads(next((root / "_labels").iterdir()).joinpath("summary.json").read_text())
    assert [list(trace["y"]) for trace in figure["data"]] == [
        summary["mix_before"],
        summary["mix_after"],
    ]
    flips = at.dataframe[1].value
    assert len(flips) == summary["n_flipped"] and set(flips["after"]) <= {"pos"}


def test_home_and_analysis_pages_on_an_unlabelled_store_say_what_labels_unlock(
    unlabelled_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = unlabelled_store
    at = open_app(root, monkeypatch)
    assert "holds picks of an unlabelled pool" in at.info[0].value
    assert [m.value for m in at.metric][:3] == ["1", "1", "0"]
    for page, what in (
        ("gap", "loss-reduction gap"),
        ("accuracy", "accuracy"),
        ("theory", "theory"),
    ):
        at = open_app(root, monkeypatch, page)
        assert LABELS_UNLOCK[what] in at.info[0].value, page
        assert not at.exception and not chart_specs(at)
    for page in ("projection", "compare"):  # these show the picks (test_pick_views.py)
        at = open_app(root, monkeypatch, page)
        assert not at.exception and not at.error and chart_specs(at), page


def test_the_picks_page_on_a_store_without_picks_says_how_to_make_one(
    empty_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(empty_store, monkeypatch, "picks")
    assert "python -m core pick" in at.info[0].value
    assert "Decide what to label" in texts(at)


def test_a_pick_made_on_the_page_is_the_cli_pick(
    unlabelled_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, pick_id = unlabelled_store
    pool = root.parent / "pool.parquet"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    at = open_app(fresh, monkeypatch, "picks")
    at.radio(key="picks_origin").set_value("an embeddings file").run()
    at.text_input(key="picks_file").input(str(pool)).run()
    at.number_input(key="picks_count").set_value(12).run()
    at.button(key="picks_go").click().run()
    assert not at.exception and not at.error
    made = pick(fresh, embeddings=pool, method="forge", n_picks=12)
    assert made[1] and made[0] == pick_id  # the same config: the same id, already stored
    assert [m.value for m in at.metric][:2] == ["12", "60"]
    at.text_input(key="picks_file").input(str(tmp_path / "nosuch.npz")).run()
    at.button(key="picks_go").click().run()
    shown = at.error[0].value.replace("\\", "")  # escaped markdown: shown as typed
    assert "Nothing was picked" in shown and "nosuch.npz' does not exist" in shown
