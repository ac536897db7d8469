"""Executors (issue 13): a debug sweep through a local Ray cluster (2 CPUs) and through two local
worker processes writes records byte-identical to the in-process executor's; bad options fail
early with the parameter named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.base.validation import ForgeLensError
from core.run.constraints import check_executor
from core.run.executors import ray_runtime_env
from core.run.sweep import run_sweep
from core.storage.store import RunStore
from tests.helpers.records import assert_identical_runs

METHODS = ("random", "coreset", "badge", "forge")
BUDGETS = (0.1,)
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def local_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    ids = run_sweep("debug", METHODS, BUDGETS, SEEDS, root=str(root), device="cpu")
    return RunStore(root), ids


def _seeded_store(local_store, path: Path) -> RunStore:
    """A new store holding the local one's source model (not its pool nor its runs), so the other
    executor reuses the same trained model and redoes everything after it."""
    store, _ = local_store
    shutil.copytree(store.models_dir, path / "_models")
    return RunStore(path)


def test_ray_executor_writes_records_identical_to_the_local_executor(local_store, tmp_path):
    ray = pytest.importorskip("ray")
    store, ids = local_store
    other = _seeded_store(local_store, tmp_path)
    events = []
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=ray_runtime_env()
    )
    try:
        assert ray.cluster_resources()["CPU"] == 2
        ray_ids = run_sweep(
            "debug",
            METHODS,
            BUDGETS,
            SEEDS,
            root=str(other.root),
            device="cpu",
            executor="ray",
            progress=events.append,
        )
    finally:
        ray.shutdown()
    assert ray_ids == ids  # same configs, same ids, in sweep order
    assert_identical_runs(store, other, ids)
    done = [e for e in events if e["stage"] == "done"]
    assert sorted(e["run_index"] for e in done) == list(range(len(ids)))
    assert not any(e["reused"] for e in done)


def test_local_jobs_write_records_identical_to_one_process(local_store, tmp_path):
    store, ids = local_store
    other = _seeded_store(local_store, tmp_path)
    assert (
        run_sweep("debug", METHODS, BUDGETS, SEEDS, root=str(other.root), device="cpu", jobs=2)
        == ids
    )
    assert_identical_runs(store, other, ids)
    # a second parallel sweep reuses every finished run
    events = []
    run_sweep(
        "debug",
        METHODS,
        BUDGETS,
        SEEDS,
        root=str(other.root),
        device="cpu",
        jobs=2,
        progress=events.append,
    )
    assert all(e["reused"] for e in events if e["stage"] == "done")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"executor": "dask"}, "executor='dask' is not known; allowed: local, ray"),
        ({"jobs": 0}, "jobs=0 is out of range: allowed [1, 256]"),
        ({"jobs": "2"}, "jobs='2' must be an integer"),
        ({"address": "auto"}, "address='auto' was given with executor='local'"),
        ({"executor": "ray", "jobs": 2}, "jobs=2 was given with executor='ray'"),
    ],
)
def test_bad_executor_options_name_the_parameter(kwargs, needle, tmp_path):
    with pytest.raises(ForgeLensError) as error:
        check_executor(**{"executor": "local", **kwargs})
    assert needle in str(error.value)
    with pytest.raises(ForgeLensError):
        run_sweep(
            "debug", ("random",), (0.1,), (0,), root=str(tmp_path / "s"), device="cpu", **kwargs
        )
    assert not (tmp_path / "s").exists()


@pytest.fixture(scope="module")
def file_scenario(tmp_path_factory):
    """A scenario file (a tiny image folder, effnet-lite0 head) and its records from one
    process, swept through the CLI into a store that is not the default one."""
    from core.cli.main import main
    from core.scenarios.scenario_file import to_toml
    from tests.helpers.image_folders import make_folder

    root = tmp_path_factory.mktemp("file")
    data = make_folder(root / "data", per_class=6)
    path = root / "mine.toml"
    table = {"name": "mine", "kind": "image-folder", "root": str(data), "source": ["a"],
             "target": ["b"], "image_size": 16}  # fmt: skip
    path.write_text(to_toml(table))
    store = root / "one"
    argv = ["run", "--scenario-file", str(path), "--methods", "random,badge,forge"]
    argv += ["--budgets", "0.2", "--seeds", "0,1", "--device", "cpu", "--quiet", "--no-umap"]
    assert main([*argv, "--out", str(store)]) == 0
    ids = sorted(p.name for p in store.iterdir() if (p / "DONE").exists())
    assert len(ids) == 6
    return path, argv, RunStore(store), ids


@pytest.mark.parametrize("how", [["--jobs", "2"], ["--executor", "ray"]])
def test_a_scenario_file_in_another_store_sweeps_in_workers_as_in_one_process(
    file_scenario, how, tmp_path, monkeypatch
):
    """Workers get the scenario as the driver's store knows it (issue 23: they used to look it
    up in the default store and fail with "scenario='mine' is not known")."""
    from core.cli.main import main

    if how[-1] == "ray":
        pytest.importorskip("ray")
    path, argv, store, ids = file_scenario
    monkeypatch.setenv("FORGELENS_RUNS", str(tmp_path / "default-store-stays-empty"))
    other = tmp_path / "two"
    assert main([*argv, "--out", str(other), *how]) == 0
    assert_identical_runs(store, RunStore(other), ids)
    assert not (tmp_path / "default-store-stays-empty").exists()
