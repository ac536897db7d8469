"""Tables over many runs: the paper's Tables 1-4 and the Figure 5 correlation summary.

Both the CLI (`python -m core table`) and the dashboard's accuracy page call these, so what the
app shows can always be reproduced headless.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.selection import method_order
from core.store import RunStore

BASELINE = "random"


def _runs(store: RunStore, run_ids: Sequence[str] | None, scenario: str | None) -> pd.DataFrame:
    runs = store.finished_runs()
    if run_ids is not None:
        runs = runs[runs["run_id"].isin(list(run_ids))]
    if scenario is not None:
        runs = runs[runs["scenario"] == scenario]
    return runs


def accuracy_long(store: RunStore, run_ids: Sequence[str] | None = None,
                  scenario: str | None = None) -> pd.DataFrame:
    """One row per (run, split, stage): method, budget, seed, accuracy, loss."""
    runs = _runs(store, run_ids, scenario)
    frames = []
    for row in runs.itertuples(index=False):
        table = store.load_table(row.run_id, "accuracy")
        table.insert(0, "run_id", row.run_id)
        table.insert(1, "scenario", row.scenario)
        table.insert(2, "method", row.method)
        table.insert(3, "budget", row.budget)
        table.insert(4, "seed", row.seed)
        frames.append(table)
    columns = ["run_id", "scenario", "method", "budget", "seed", "split", "stage", "n",
               "accuracy", "loss"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def accuracy_summary(long: pd.DataFrame, split: str = "test", stage: str = "after") -> pd.DataFrame:
    """Mean and std over seeds per (method, budget), with the difference to Random's mean."""
    part = long[(long["split"] == split) & (long["stage"] == stage)]
    grouped = part.groupby(["method", "budget"])["accuracy"]
    table = grouped.agg(mean="mean", std=lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else 0.0,
                        n_seeds="count").reset_index()
    baseline = table[table["method"] == BASELINE].set_index("budget")["mean"]
    table["diff_to_random"] = table["budget"].map(baseline)
    table["diff_to_random"] = table["mean"] - table["diff_to_random"]
    order = {m: i for i, m in enumerate(method_order(table["method"]))}
    return table.sort_values(["budget", "method"], key=lambda c: c.map(order) if c.name == "method"
                             else c).reset_index(drop=True)


def accuracy_matrix(summary: pd.DataFrame) -> pd.DataFrame:
    """Selectors x budgets as 'mean +- std (diff)' strings in percent, for printing."""
    def cell(row: pd.Series) -> str:
        text = f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f}"
        if not np.isnan(row["diff_to_random"]) and row["method"] != BASELINE:
            text += f" ({100 * row['diff_to_random']:+.2f})"
        return text

    if summary.empty:
        return pd.DataFrame()
    frame = summary.assign(cell=summary.apply(cell, axis=1))
    matrix = frame.pivot(index="method", columns="budget", values="cell")
    matrix = matrix.reindex(method_order(frame["method"]))
    matrix.columns = [f"{100 * b:g}%" for b in matrix.columns]
    return matrix


def decomposition(long: pd.DataFrame, budget: float | None = None) -> pd.DataFrame:
    """Table 1: accuracy after adaptation on selected train / unselected train / val / test."""
    part = long[long["stage"] == "after"]
    if budget is not None:
        part = part[np.isclose(part["budget"], budget)]
    stats = part.groupby(["method", "budget", "split"])["accuracy"].agg(
        mean="mean", std=lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else 0.0
    ).reset_index()
    stats["split"] = pd.Categorical(
        stats["split"], ["selected_train", "unselected_train", "val", "test"], ordered=True
    )
    order = {m: i for i, m in enumerate(method_order(stats["method"]))}
    return stats.sort_values(["budget", "method", "split"],
                             key=lambda c: c.map(order) if c.name == "method" else c
                             ).reset_index(drop=True)


def correlation_summary(store: RunStore, run_ids: Sequence[str] | None = None,
                        scenario: str | None = None) -> pd.DataFrame:
    """Figure 5 in numbers: per (method, budget, space), correlations and gaps over seeds."""
    runs = _runs(store, run_ids, scenario)
    frames = []
    for row in runs.itertuples(index=False):
        table = store.load_table(row.run_id, "summary")
        table.insert(0, "method", row.method)
        table.insert(1, "budget", row.budget)
        table.insert(2, "seed", row.seed)
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=["method", "budget", "space", "pearson", "pearson_std",
                                     "spearman", "spearman_std", "max_gap", "n_seeds"])
    every = pd.concat(frames, ignore_index=True)
    table = every.groupby(["method", "budget", "space"], sort=False).agg(
        pearson=("pearson", "mean"), pearson_std=("pearson", "std"),
        spearman=("spearman", "mean"), spearman_std=("spearman", "std"),
        gamma_spearman=("gamma_spearman", "mean"),
        max_gap=("max_gap", "mean"), mean_gap=("mean_gap", "mean"),
        weighted_train_loss_reduction=("weighted_train_loss_reduction", "mean"),
        n_seeds=("seed", "count"),
    ).reset_index()
    order = {m: i for i, m in enumerate(method_order(table["method"]))}
    return table.sort_values(["budget", "method"],
                             key=lambda c: c.map(order) if c.name == "method" else c
                             ).reset_index(drop=True)
