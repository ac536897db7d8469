"""Fixtures for the dashboard tests: a real debug run store, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.browser import served
from tests.helpers.stores import DEBUG_BUDGETS, DEBUG_METHODS, DEBUG_SEEDS, TEXT_PER_CLASS


@pytest.fixture(scope="session")
def debug_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The debug scenario swept over 3 selectors x 2 budgets x 2 seeds, FORGE UMAP cached."""
    from core.analysis.projection import umap_2d
    from core.run.sweep import run_sweep
    from core.storage.store import RunStore

    root = tmp_path_factory.mktemp("debug_store")
    run_ids = run_sweep(
        "debug",
        list(DEBUG_METHODS),
        list(DEBUG_BUDGETS),
        list(DEBUG_SEEDS),
        root=str(root),
        device="cpu",
    )
    store = RunStore(root)
    umap_2d(store, store.load_config(run_ids[0])["pool_id"], "forge")
    return root


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    root = tmp_path / "empty_store"
    root.mkdir()
    return root


TEXT_SCENARIO = "tweets-airline-to-apple"


@pytest.fixture(scope="session")
def text_slice():
    """A small slice of the tweets scenario (its texts are what the pages must show)."""
    from core.scenarios import build_scenario

    return build_scenario(TEXT_SCENARIO, per_class=TEXT_PER_CLASS)


@pytest.fixture(scope="session")
def text_store(tmp_path_factory: pytest.TempPathFactory, text_slice) -> Path:
    """Random and FORGE on the tweet slice (head adaptation, its default), UMAP of z cached."""
    from core.analysis.projection import umap_2d
    from core.run.sweep import run_sweep
    from core.storage.store import RunStore

    root = tmp_path_factory.mktemp("text_store")
    run_ids = run_sweep(
        TEXT_SCENARIO,
        ["random", "forge"],
        [0.1],
        [0],
        root=str(root),
        device="cpu",
        built=text_slice,
    )
    store = RunStore(root)
    umap_2d(store, store.load_config(run_ids[0])["pool_id"], "z")
    return root


@pytest.fixture
def served_app(debug_store: Path, tmp_path: Path):
    """The app served with the README's command on the debug store."""
    with served(debug_store, tmp_path / "server.log") as url:
        yield url
