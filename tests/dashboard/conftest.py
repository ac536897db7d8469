"""Fixtures for the dashboard tests: a real debug run store, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

DEBUG_METHODS = ("random", "badge", "forge")
DEBUG_BUDGETS = (0.1, 0.2)
DEBUG_SEEDS = (0, 1)


@pytest.fixture(scope="session")
def debug_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The debug scenario swept over 3 selectors x 2 budgets x 2 seeds, FORGE UMAP cached."""
    from core.experiment import run_sweep
    from core.projection import umap_2d
    from core.store import RunStore

    root = tmp_path_factory.mktemp("debug_store")
    run_ids = run_sweep("debug", list(DEBUG_METHODS), list(DEBUG_BUDGETS), list(DEBUG_SEEDS),
                        root=str(root), device="cpu")
    store = RunStore(root)
    umap_2d(store, store.load_config(run_ids[0])["pool_id"], "forge")
    return root


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    root = tmp_path / "empty_store"
    root.mkdir()
    return root
