"""Fixtures for the dashboard tests: a real debug run store, built once per session."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from core.store import RUNS_ENV
from tests.helpers.browser import REPO, free_port
from tests.helpers.stores import DEBUG_BUDGETS, DEBUG_METHODS, DEBUG_SEEDS, TEXT_PER_CLASS


@pytest.fixture(scope="session")
def debug_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The debug scenario swept over 3 selectors x 2 budgets x 2 seeds, FORGE UMAP cached."""
    from core.experiment import run_sweep
    from core.projection import umap_2d
    from core.store import RunStore

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
    from core.experiment import run_sweep
    from core.projection import umap_2d
    from core.store import RunStore

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
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=REPO,
        env={**os.environ, RUNS_ENV: str(debug_store)},
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
                    log.flush()
                    pytest.fail(
                        "the app did not start:\n" + (tmp_path / "server.log").read_text()[-3000:]
                    )
                time.sleep(0.5)  # polling the health endpoint until it answers
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
