"""Executors (issue 13): a debug sweep through a local Ray cluster (2 CPUs) and through two local
worker processes writes records byte-identical to the in-process executor's; bad options fail
early with the parameter named."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.base.processes import pid_alive
from core.base.validation import ForgeLensError
from core.run.constraints import check_executor
from core.run.executors import check_reachable, ray_runtime_env
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


def test_a_garbage_ray_address_is_refused_naming_it() -> None:
    for garbage in ("garbage", "host:", "127.0.0.1:70000", "http://x:1"):
        with pytest.raises(ForgeLensError, match=f"address={garbage!r} is not allowed"):
            check_executor("ray", 1, garbage)
    check_executor("ray", 1, "ray://head.example:10001")
    check_executor("ray", 1, "auto")


def test_an_unreachable_ray_address_fails_fast_naming_it(tmp_path: Path) -> None:
    """Ray itself retries 127.0.0.1:1 for minutes; the sweep fails in seconds, naming it, and
    before its pool is prepared (nothing written)."""
    pytest.importorskip("ray")
    tick = time.monotonic()
    with pytest.raises(ForgeLensError, match=r"address='127.0.0.1:1': nothing answers"):
        run_sweep(
            "debug",
            ["random"],
            [0.1],
            [0],
            root=str(tmp_path),
            device="cpu",
            executor="ray",
            address="127.0.0.1:1",
        )
    assert time.monotonic() - tick < 30
    assert RunStore(tmp_path).run_ids() == []


_PARENT = """
import os, sys, time
from pathlib import Path

OUT = Path(sys.argv[1])


def write_runs(worker: int) -> None:
    # stands for a worker writing runs: one file every 0.1 s, for 30 s unless killed
    for i in range(300):
        (OUT / f"run-{worker}-{os.getpid()}-{i}").touch()
        time.sleep(0.1)


if __name__ == "__main__":
    from core.run.executors import worker_pool  # the workers import only what they run

    with worker_pool(2) as pool:
        for worker in range(2):
            pool.submit(write_runs, worker)
"""


def test_killing_a_sweep_with_workers_kills_its_workers(tmp_path: Path) -> None:
    """kill -9 of the driver of a `--jobs 2` pool: its workers die too, no run appears after."""
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    out = tmp_path / "runs"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    parent = subprocess.Popen([sys.executable, str(script), str(out)], env=env)
    try:
        deadline = time.monotonic() + 60
        while len({p.name.split("-")[2] for p in out.iterdir()}) < 2:  # both workers write
            assert time.monotonic() < deadline, "the workers never started"
            assert parent.poll() is None
            time.sleep(0.1)
        workers = {int(p.name.split("-")[2]) for p in out.iterdir()}
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        time.sleep(1.0)
        count = len(list(out.iterdir()))
        time.sleep(1.0)
        assert len(list(out.iterdir())) == count, "a worker went on writing after its parent died"
        assert not any(pid_alive(pid) for pid in workers)
    finally:
        if parent.poll() is None:
            parent.kill()


def _serve_once(reply: bytes) -> tuple[int, threading.Thread]:
    """A local server that answers one connection with ``reply`` (then closes it)."""
    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        with server, server.accept()[0] as connection:
            connection.recv(64)
            connection.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


def test_an_address_that_answers_but_not_as_ray_fails_fast_naming_it() -> None:
    """An HTTP server on the port: Ray would retry it for minutes (measured: still connecting
    after 60 s); the gRPC handshake check says so at once."""
    port, thread = _serve_once(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(ForgeLensError, match=f"address='127.0.0.1:{port}': .* not as a Ray"):
        check_reachable(f"127.0.0.1:{port}", timeout=5)
    thread.join(5)
    settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # what a gRPC server (Ray's GCS) sends
    port, thread = _serve_once(settings)
    check_reachable(f"ray://127.0.0.1:{port}", timeout=5)
    thread.join(5)
