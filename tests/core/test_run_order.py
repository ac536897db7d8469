"""The order a sweep executes its runs in: a complete Figure 5 (BADGE beside FORGE, one seed)
first, seed by seed; the returned ids and the records do not depend on it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.base.hparams import hparams_for
from core.run.engine import run_config
from core.run.sweep import execution_order, run_sweep
from core.storage.atomic import config_id
from core.storage.store import RunStore


def _grid(methods, budgets, seeds):
    # the sweep's own grid order (core.run.constraints.Sweep.grid)
    return [(m, b, s) for b in budgets for m in methods for s in seeds]


def test_the_figure5_pair_of_the_first_seed_runs_first_then_seed_by_seed() -> None:
    grid = _grid(["random", "coreset", "badge", "forge"], [0.05, 0.1], [3, 1, 2])
    order = execution_order(grid)
    assert sorted(order) == list(range(len(grid)))  # a permutation: every run exactly once
    ran = [grid[i] for i in order]
    assert ran[:2] == [("badge", 0.05, 3), ("forge", 0.05, 3)]
    assert ran[2:4] == [("random", 0.05, 3), ("coreset", 0.05, 3)]  # then the given order
    seeds = [s for _, _, s in ran]
    assert seeds == sorted(seeds, key=[3, 1, 2].index)  # a seed completes before the next
    for seed in (3, 1, 2):  # within each seed: budget by budget, the pair first in each
        budgets = [(b, m) for m, b, s in ran if s == seed]
        assert [b for b, _ in budgets] == sorted(b for b, _ in budgets)
        assert [m for b, m in budgets if b == 0.1][:2] == ["badge", "forge"]


def test_without_the_pair_the_given_order_is_kept_seed_by_seed() -> None:
    grid = _grid(["margin", "random"], [0.1], [0, 1])
    assert [grid[i] for i in execution_order(grid)] == [
        ("margin", 0.1, 0),
        ("random", 0.1, 0),
        ("margin", 0.1, 1),
        ("random", 0.1, 1),
    ]
    assert execution_order([]) == []


def test_a_sweep_runs_in_execution_order_and_returns_ids_in_grid_order(tmp_path: Path) -> None:
    methods, budgets, seeds = ("random", "badge", "forge"), (0.1,), (0, 1)
    events: list[dict] = []
    ids = run_sweep(
        "debug",
        methods,
        budgets,
        seeds,
        root=str(tmp_path / "a"),
        device="cpu",
        progress=events.append,
    )
    hp = hparams_for("debug")
    grid = _grid(methods, budgets, seeds)
    assert ids == [config_id(run_config("debug", m, b, s, hp)) for m, b, s in grid]
    done = [e for e in events if e["stage"] == "done"]
    assert [(e["method"], e["seed"]) for e in done] == [
        (grid[i][0], grid[i][2]) for i in execution_order(grid)
    ]
    assert [e["run_index"] for e in done] == list(range(len(grid)))
    # the same runs swept in the other order (grid order, one at a time) give the same tables
    store, other = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
    for m, b, s in grid:
        (run_id,) = run_sweep("debug", (m,), (b,), (s,), root=str(other.root), device="cpu")
        for table in ("selection", "accuracy", "samples", "pairs", "summary"):
            pd.testing.assert_frame_equal(
                other.load_table(run_id, table), store.load_table(run_id, table)
            )
