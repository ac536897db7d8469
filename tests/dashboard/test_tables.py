"""Markdown tables: cells, best-in-bold rule, readable pair details."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import tables
from dashboard.text import escape_markdown


def _rows(markdown: str) -> dict[str, list[str]]:
    lines = markdown.splitlines()
    return {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in lines[2:]
    }


def test_accuracy_markdown_bolds_the_best_mean_per_budget() -> None:
    rng = np.random.default_rng(0)
    methods, budgets = ["random", "badge", "forge"], [0.05, 0.1]
    summary = pd.DataFrame(
        [
            {"method": m, "budget": b, "mean": rng.uniform(0.5, 0.9), "std": rng.uniform(0, 0.02)}
            for b in budgets
            for m in methods
        ]
    )
    base = summary[summary.method == "random"].set_index("budget")["mean"]
    summary["diff_to_random"] = summary["mean"] - summary["budget"].map(base)
    markdown = tables.accuracy_markdown(summary)
    assert markdown.splitlines()[0] == "| selector | 5% | 10% |"
    rows = _rows(markdown)
    for column, budget in enumerate(budgets):
        part = summary[summary.budget == budget]
        best = part.loc[part["mean"].idxmax(), "method"]
        for record in part.itertuples():
            cell = rows[record.method][column]
            assert cell.startswith("**") == (record.method == best)
            assert f"{100 * record.mean:.2f} ± {100 * record.std:.2f}" in cell
            assert ("(" in cell) == (record.method != "random")  # no diff for Random itself


def test_bold_best_ties_are_all_bold_and_missing_cells_dashed() -> None:
    summary = pd.DataFrame(
        {
            "method": ["a", "b", "a"],
            "budget": [0.1, 0.1, 0.2],
            "mean": [0.8, 0.8, 0.5],
            "std": [0.0, np.nan, 0.1],
            "diff_to_random": [np.nan, np.nan, np.nan],
        }
    )
    rows = _rows(tables.accuracy_markdown(summary))
    assert rows["a"][0].startswith("**") and rows["b"][0].startswith("**")
    assert rows["b"][1] == "–"
    assert rows["b"][0] == "**80.00 ± 0.00**"


def test_decomposition_markdown_orders_splits_like_table_1() -> None:
    decomp = pd.DataFrame(
        {
            "method": ["forge"] * 4 + ["badge"] * 4,
            "budget": 0.05,
            "split": ["test", "val", "unselected_train", "selected_train"] * 2,
            "mean": [0.7, 0.7, 0.7, 0.9, 0.6, 0.8, 0.6, 0.95],
            "std": 0.01,
        }
    )
    markdown = tables.decomposition_markdown(decomp)
    assert markdown.splitlines()[0] == (
        "| selector | selected train | unselected train | validation | test |"
    )
    rows = _rows(markdown)
    assert rows["badge"][0].startswith("**") and rows["forge"][3].startswith("**")
    assert rows["badge"][1] == "60.00 ± 1.00" and rows["badge"][2] == "**80.00 ± 1.00**"


def test_pair_details_names_columns_and_classes() -> None:
    pairs = pd.DataFrame(
        {
            "space": ["badge"],
            "seed": [0],
            "idx": [3],
            "nn_idx": [5],
            "label": [1],
            "nn_label": [0],
            "gap": [0.5],
            "extra": [1],
        }
    )
    details = tables.pair_details(pairs, ["cat", "dog"])
    assert list(details.columns) == [
        "space",
        "seed",
        "unselected x′",
        "nearest selected x",
        "label x′",
        "label x",
        "gap",
    ]
    assert details.iloc[0]["label x′"] == "dog" and details.iloc[0]["label x"] == "cat"


def test_correlation_pivot_spaces_as_columns() -> None:
    table = pd.DataFrame(
        {
            "method": ["forge"] * 3,
            "budget": 0.1,
            "space": ["forge", "badge", "coreset"],
            "spearman": [0.5, 0.2, 0.3],
            "pearson": 0.0,
        }
    )
    wide = tables.correlation_pivot(table)
    assert list(wide.columns) == [
        "spearman · CORESET space",
        "spearman · BADGE space",
        "spearman · FORGE space",
    ]
    too_few = "(too few seeds for an interval, n=?)"
    assert wide.loc[("forge", "10%")].tolist() == [f"+0.{v}00 {too_few}" for v in (3, 2, 5)]
    table = table.assign(spearman_low=[0.4, 0.1, 0.2], spearman_high=[0.6, 0.3, 0.4], n_seeds=3)
    assert (
        tables.correlation_pivot(table).loc[("forge", "10%")].iloc[0]
        == "+0.300 [+0.20, +0.40] (t, n=3 seeds)"
    )
    sources = table.assign(n_source_models=3, n_seeds=9)
    assert (
        tables.correlation_pivot(sources).loc[("forge", "10%")].iloc[0]
        == "+0.300 [+0.20, +0.40] (t, n=3 source models)"
    )
    assert tables.correlation_pivot(table.iloc[:0]).empty


def test_accuracy_markdown_shows_both_spreads_and_the_method_label() -> None:
    summary = pd.DataFrame(
        {
            "method": ["random", "typiclust"],
            "method_label": ["random", "typiclust(k_nn=20)"],
            "budget": [0.1, 0.1],
            "mean": [0.5, 0.6],
            "std": [0.05, 0.04],
            "source_std": [0.03, 0.02],
            "seed_std": [0.01, np.nan],
            "n_source_models": [3, 3],
            "n_seeds": [9, 3],
            "diff_to_random": [np.nan, 0.1],
            "diff_low": [np.nan, 0.02],
            "diff_high": [np.nan, 0.18],
            "diff_verdict": ["", "higher"],
        }
    )
    rows = _rows(tables.accuracy_markdown(summary))
    assert rows["random"][0] == "50.00 ± 3.00 src, ± 1.00 seed (n=3 src, 9 runs)"
    assert rows[escape_markdown("typiclust(k_nn=20)")][0] == (
        "**60.00 ± 2.00 src, ± n/a seed (n=3 src, 3 runs) (Δ +10.00 [+2.00, +18.00])**"
    )
