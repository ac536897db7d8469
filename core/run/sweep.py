"""A sweep: every (method, budget, seed) of one scenario, validated once, its pool prepared
once, its runs executed here or by an executor (``core.run.executors``) and stored.

Also the store-format gate (a sweep never mixes run formats) and ``upgrade_store``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from core import selection
from core.base.device import resolve_device
from core.base.hparams import HParams
from core.base.progress import Progress, ignore
from core.base.validation import ForgeLensError
from core.run.constraints import Sweep, check_executor, check_sweep
from core.run.engine import prepare_pool, run_one
from core.run.executors import check_reachable, run_grid
from core.run.follow_up import FollowUp
from core.scenarios import Scenario
from core.selection.contract import check_plugins
from core.storage.atomic import config_id
from core.storage.store import RUN_FORMAT_VERSION, RunStore
from core.tasks import task_of
from core.tasks.pool_jobs import PoolJob

if TYPE_CHECKING:
    import torch

# a caller's own pool jobs for a prepared pool, given the store's root and the pool id (the
# CLI's UMAP views: ``core.analysis.projection.umap_jobs``)
ExtraJobs = Callable[[str, str], list[PoolJob]]

__all__ = [
    "FIGURE5_FIRST",
    "check_store_format",
    "execution_order",
    "run_checked_sweep",
    "run_sweep",
    "upgrade_store",
]

# The selectors whose runs go first within a seed: the Gap page opens on BADGE's picks, and
# BADGE beside FORGE is the paper's Figure 5 comparison.
FIGURE5_FIRST = ("badge", "forge")


def execution_order(grid: Sequence[tuple[str, float, int]]) -> list[int]:
    """Positions of ``grid`` in the order its runs execute: seed by seed (in the order given),
    within a seed budget by budget, and within those BADGE and FORGE (``FIGURE5_FIRST``) before
    the other selectors in their given order.

    So the first finished runs already make a complete Figure 5 (one seed, BADGE beside FORGE)
    and each seed's comparison is complete before the next seed starts. A run's id and records
    depend only on its own config, never on this order."""
    seeds = list(dict.fromkeys(seed for _, _, seed in grid))
    budgets = list(dict.fromkeys(budget for _, budget, _ in grid))
    methods = list(dict.fromkeys(method for method, _, _ in grid))
    first = [m for m in FIGURE5_FIRST if m in methods]
    rank = {m: i for i, m in enumerate(first + [m for m in methods if m not in first])}

    def key(position: int) -> tuple[int, int, int, int]:
        method, budget, seed = grid[position]
        return seeds.index(seed), budgets.index(budget), rank[method], position

    return sorted(range(len(grid)), key=key)


def run_sweep(
    scenario: str,
    methods: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    *,
    root: str | None = None,
    device: str = "auto",
    adaptation: str | None = None,
    progress: Progress | None = None,
    hparams: HParams | None = None,
    built: Scenario | None = None,
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
) -> list[str]:
    """Run every (method, budget, seed) of one scenario; returns the run ids in sweep order.

    The public entry point: validates its arguments (``core.run.constraints.check_sweep``) once.
    ``adaptation`` None means the scenario's default mode. ``built`` replaces the registered
    scenario of that name by an already built one (e.g. a small slice for tests).
    ``executor`` / ``jobs`` / ``address``: where the runs execute (``core.run.executors``); the pool
    is prepared here first either way.
    """
    methods = selection.resolve_methods(methods)  # `package.module:Class` and installed plugins
    sweep = check_sweep(scenario, methods, budgets, seeds, adaptation, root=root)
    executor, jobs = check_executor(executor, jobs, address)
    return run_checked_sweep(
        sweep,
        root=root,
        device=resolve_device(device),
        progress=progress,
        hparams=hparams,
        built=built,
        executor=executor,
        jobs=jobs,
        address=address,
    )


def run_checked_sweep(
    sweep: Sweep,
    *,
    root: str | None = None,
    device: torch.device,
    progress: Progress | None = None,
    hparams: HParams | None = None,
    built: Scenario | None = None,
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
    extra_jobs: ExtraJobs | None = None,
    warm_ups: Sequence[Callable[[], None]] = (),
) -> list[str]:
    """``run_sweep`` for an already validated sweep (the CLI checks before loading torch).

    Also computes the pool's jobs (``core.tasks.pool_jobs``: the task's, then ``extra_jobs``)
    beside the runs (``core.run.follow_up``): a helper process started here, warmed up with
    ``warm_ups`` while the pool is prepared, takes them while the runs execute here."""
    # a method that does not apply to the task (QA: no logit-only selectors) fails before work
    task_of(built or sweep.scenario.builder).check_methods(sweep.methods)
    check_plugins(sweep.methods)  # a plugin breaking the selector contract: nothing is written
    if executor == "ray" and address is not None:
        check_reachable(address)  # Ray retries an unreachable address for minutes
    store = RunStore(root)
    check_store_format(store)
    store.remove_stale_staging()
    notify = progress or ignore
    local = executor == "local" and jobs == 1
    with FollowUp(warm_ups, helper=local) as later:
        prepared = prepare_pool(
            store,
            sweep.scenario,
            device=device,
            hparams=hparams,
            progress=notify,
            adaptation=sweep.adaptation,
            built=built,
        )
        adapter = task_of(prepared.scenario).adapter()
        # the caller's first: the helper warmed up for them, and this process takes what is
        # left after its runs (the task's parts need no warm-up)
        pool_jobs = [] if extra_jobs is None else extra_jobs(str(store.root), prepared.pool_id)
        later.submit(pool_jobs + adapter.pool_jobs(store, prepared, device=device))
        grid = sweep.grid
        order = execution_order(grid)
        if not local:  # worker processes or a Ray cluster (core.run.executors)
            done = run_grid(
                [grid[index] for index in order],
                scenario=sweep.scenario,
                plugins=selection.plugin_sources(sweep.methods),
                root=store.root,
                device=str(device),
                adaptation=sweep.adaptation,
                hparams=hparams,
                built=built,
                executor=executor,
                jobs=jobs,
                address=address,
                notify=notify,
            )
            later.finish(notify)
            by_index = {index: run_id for index, (run_id, _) in zip(order, done, strict=True)}
            return [by_index[index] for index in range(len(grid))]
        run_ids = _run_here(store, prepared, sweep, grid, order, device, notify, later)
        later.finish(notify)
    return run_ids


def _run_here(
    store: RunStore,
    prepared: Any,
    sweep: Sweep,
    grid: Sequence[tuple[str, float, int]],
    order: list[int],
    device: torch.device,
    notify: Progress,
    later: FollowUp,
) -> list[str]:
    """The sweep's runs in this process, in ``order``; between two runs, what the follow-up
    helper finished is reported."""
    run_ids: list[str] = [""] * len(grid)
    for position, index in enumerate(order):  # run_index: the position in execution order
        method, budget, seed = grid[index]

        def forward(
            event: dict[str, Any],
            index: int = position,
            method: str = method,
            budget: float = budget,
            seed: int = seed,
        ) -> None:
            notify(
                {
                    **event,
                    "run_index": index,
                    "n_runs": len(grid),
                    "method": method,
                    "budget": budget,
                    "seed": seed,
                }
            )

        run_id, reused = run_one(
            store,
            prepared,
            method,
            budget,
            seed,
            device=device,
            adaptation=sweep.adaptation,
            progress=forward,
        )
        forward(
            {
                "stage": "done",
                "run_id": run_id,
                "reused": reused,
                "message": f"{method} {budget:g} seed {seed}: {'reused' if reused else 'done'}",
            }
        )
        run_ids[index] = run_id
        later.poll(notify)
    return run_ids


def check_store_format(store: RunStore) -> None:
    """Refuse to add runs to a store holding runs of an older run format: their configs lack
    what new run ids hash, so the same experiment would be stored twice. Says what to do."""
    old = store.finished_runs()
    old = old[old["format"] < RUN_FORMAT_VERSION]
    if not old.empty:
        raise ForgeLensError(
            f"out={str(store.root)!r} holds {len(old)} run(s) in run format "
            f"{int(old['format'].min())}; this ForgeLens writes format {RUN_FORMAT_VERSION}. "
            f"Upgrade them with `python -m core upgrade --out {store.root}` (their results "
            "stay, their ids change), or sweep into another --out"
        )


def upgrade_store(store: RunStore) -> list[tuple[str, str]]:
    """Bring format-1 runs to the current run format: add the run format and the selector's
    default parameters (what format-1 runs used) to each config, and move the run to its new id.
    Returns (old id, new id) pairs. Results are untouched."""
    moved = []
    for row in store.finished_runs().itertuples(index=False):
        if row.format >= RUN_FORMAT_VERSION or row.method not in selection.SELECTORS:
            continue
        info = store.load_config(row.run_id)
        config = {
            "format": RUN_FORMAT_VERSION,
            "selector_params": selection.get_selector(row.method).get_params(),
            **info["config"],
        }
        new_id = config_id(config)
        store.move_run(row.run_id, new_id, {**info, "run_id": new_id, "config": config})
        moved.append((row.run_id, new_id))
    return moved
