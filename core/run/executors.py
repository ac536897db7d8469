"""Where the runs of a sweep execute: this process, several local processes, or a Ray cluster.

A sweep first prepares its pool once in the driver (``core.run.engine.prepare_pool``: the source
model is trained or loaded and the pool embeddings are written to the run store); then every
(method, budget, seed) is one task:

- ``local`` (the default): in this process, one after the other; ``jobs`` > 1 runs them in that
  many worker processes (spawned: no forked OpenMP state), each with cores / jobs torch threads.
- ``ray``: each run is a Ray task (``num_cpus=1``; one GPU per task when the cluster has GPUs).
  ``address`` None starts a local Ray instance; "auto" or "ray://host:10001" joins a cluster.
  Every node must see the same code (the same checkout on the same path, which is put on the
  workers' PYTHONPATH) and the run store on a shared file system.

A worker re-opens the store, loads the cached source model and the stored pool embeddings (so the
pool is prepared once and shared through the store), runs ``run_one`` and writes its run with the
store's usual atomic rename and DONE marker: two writers never share a path, and a run another
writer finished first is reused. Results do not depend on the executor: a task uses one torch
thread under Ray, like the test suite, and the records are byte-identical to the local ones
(tested). No torch import at module level: the CLI validates these options before loading torch.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.base.device import resolve_device
from core.base.memory import keep_freed_memory
from core.base.processes import die_with_parent
from core.base.progress import Progress, ignore
from core.base.validation import ForgeLensError
from core.run.constraints import check_executor, split_address
from core.scenarios import ScenarioEntry
from core.selection import use_plugins
from core.storage.store import RunStore

REPO_ROOT = Path(__file__).resolve().parents[2]


# ---- one task -------------------------------------------------------------------------------
_PREPARED: dict[tuple, Any] = {}  # per worker process: the prepared pool of each sweep


def run_task(
    root: str,
    scenario: ScenarioEntry,
    method: str,
    budget: float,
    seed: int,
    *,
    device: str,
    adaptation: str,
    plugins: dict[str, str] | None = None,
    hparams: Any = None,
    built: Any = None,
    threads: int | None = None,
) -> tuple[str, bool]:
    """One (method, budget, seed) in this process: (run_id, reused). The pool is prepared once
    per process and sweep (source model and embeddings read from the store). Everything the
    run needs travels in the arguments: the scenario as the driver's store knows it, and the
    plugin selectors the driver registered (``core.selection.plugin_sources``)."""
    import torch

    from core.run.engine import prepare_pool, run_one  # loads torch: only in a worker

    if threads:
        torch.set_num_threads(threads)
    use_plugins(plugins or {})
    store = RunStore(root)
    torch_device = resolve_device(device)
    key = (
        root,
        scenario,
        str(torch_device),
        adaptation,
        repr(hparams),
        None if built is None else repr(built.params),
    )
    if key not in _PREPARED:
        _PREPARED.clear()
        _PREPARED[key] = prepare_pool(
            store,
            scenario,
            device=torch_device,
            hparams=hparams,
            adaptation=adaptation,
            built=built,
        )
    try:
        return run_one(
            store, _PREPARED[key], method, budget, seed, device=torch_device, adaptation=adaptation
        )
    except BaseException:
        _PREPARED.clear()  # a failed run (a selector that changed the pool): prepare it again
        raise


# ---- workers die with their parent (core.base.processes.die_with_parent) -----------------
def worker_pool(jobs: int) -> Any:
    """A pool of ``jobs`` spawned worker processes (no forked OpenMP state) that die with this
    process (``die_with_parent``)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )


def _start_worker(parent: int) -> None:
    """A worker process dies with ``parent`` and keeps freed memory (``core.base.memory``)."""
    die_with_parent(parent)
    keep_freed_memory()


# ---- executors ------------------------------------------------------------------------------
def run_grid(
    grid: Sequence[tuple[str, float, int]],
    *,
    scenario: ScenarioEntry,
    plugins: dict[str, str] | None = None,
    root: str | Path,
    device: str,
    adaptation: str,
    hparams: Any = None,
    built: Any = None,
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
    notify: Progress | None = None,
) -> list[tuple[str, bool]]:
    """Run every (method, budget, seed) of ``grid`` (pool already prepared in the store) on the
    chosen executor; returns (run_id, reused) in grid order. ``notify`` gets one ``done`` event
    per run as it finishes (with run_index, method, budget, seed)."""
    executor, jobs = check_executor(executor, jobs, address)
    root = str(Path(root).resolve())
    notify = notify or ignore
    common = {
        "device": device,
        "adaptation": adaptation,
        "plugins": plugins or {},
        "hparams": hparams,
        "built": built,
    }
    if executor == "ray":
        return _run_ray(grid, scenario, root, common, address, notify)
    return _run_processes(grid, scenario, root, common, jobs, notify)


def _done(notify: Progress, grid: Sequence, index: int, result: tuple[str, bool]) -> None:
    method, budget, seed = grid[index]
    run_id, reused = result
    notify(
        {
            "stage": "done",
            "run_id": run_id,
            "reused": reused,
            "run_index": index,
            "n_runs": len(grid),
            "method": method,
            "budget": budget,
            "seed": seed,
            "message": f"{method} {budget:g} seed {seed}: {'reused' if reused else 'done'}",
        }
    )


def _run_processes(grid, scenario, root, common, jobs, notify) -> list[tuple[str, bool]]:
    from concurrent.futures import as_completed

    threads = max(1, (os.cpu_count() or 1) // jobs)
    results: list[tuple[str, bool] | None] = [None] * len(grid)
    with worker_pool(min(jobs, len(grid))) as pool:
        futures = {
            pool.submit(run_task, root, scenario, m, b, s, threads=threads, **common): i
            for i, (m, b, s) in enumerate(grid)
        }
        for future in as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            _done(notify, grid, index, results[index])
    return results  # type: ignore[return-value]


def ray_runtime_env() -> dict[str, Any]:
    """Ray workers import this checkout (same path on every node) and use one thread per task."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    return {"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}}


RAY_CONNECT_SECONDS = 10.0
# a Ray head (GCS) and a Ray client server speak gRPC: HTTP/2 without TLS, whose server answers
# the client's connection preface with a SETTINGS frame (frame type 4)
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def check_reachable(address: str | None, timeout: float = RAY_CONNECT_SECONDS) -> None:
    """Fail within about ``timeout`` seconds, naming ``address``, when no Ray cluster answers
    there: nothing listens, or what listens does not speak gRPC (Ray itself retries either for
    minutes). None and "auto" are Ray's to resolve."""
    if address is None or address == "auto":
        return
    host, port = split_address(address)
    allowed = (
        "allowed: the address of a running Ray cluster ('ray start --head' prints it) or 'auto'"
    )
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            connection.sendall(_HTTP2_PREFACE)
            reply = b""
            while len(reply) < 9 and (chunk := connection.recv(9 - len(reply))):
                reply += chunk
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ForgeLensError(
            f"address={address!r}: nothing answers at {host}:{port} ({reason}, within "
            f"{timeout:g} s); {allowed}"
        ) from None
    if len(reply) < 9 or reply[3] != 4:
        raise ForgeLensError(
            f"address={address!r}: {host}:{port} answers, but not as a Ray cluster (no gRPC "
            f"handshake); {allowed}"
        )


def _run_ray(grid, scenario, root, common, address, notify) -> list[tuple[str, bool]]:
    try:
        import ray
    except ImportError:
        raise ForgeLensError(
            "executor='ray' needs the ray package (pip install ray, pinned in requirements.txt)"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:  # else: the caller's ray.init (address, resources) is used as it is
        check_reachable(address)
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env=ray_runtime_env(),
            )
        except Exception as error:  # ray raises ConnectionError, RuntimeError, ValueError...
            raise ForgeLensError(
                f"address={address!r}: Ray could not join a cluster there "
                f"({type(error).__name__}: {error}); allowed: the address of a running Ray "
                "cluster ('ray start --head' prints it), 'auto' for the one on this machine, "
                "or none to start a local instance"
            ) from None
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=1)(run_task)
        refs = [task.remote(root, scenario, m, b, s, threads=1, **common) for m, b, s in grid]
        index_of = {ref: i for i, ref in enumerate(refs)}
        results: list[tuple[str, bool] | None] = [None] * len(grid)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            index = index_of[ready[0]]
            results[index] = ray.get(ready[0])
            _done(notify, grid, index, results[index])
        return results  # type: ignore[return-value]
    finally:
        if started_here:
            ray.shutdown()
