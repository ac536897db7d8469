"""Tables over many runs: the paper's Tables 1-4, the Figure 5 correlation summary and the
theory table (Theorem 4, Proposition 2), each with how sure it is (``core.base.statistics``).

Both the CLI (`python -m core table`) and the dashboard's pages call these, so what the app
shows can always be reproduced headless.

Runs are grouped by their full configuration apart from the seed (a *setting*); the settings
that differ only in method and budget form one *experiment* (one methods x budgets table).
Two settings are never averaged together, and Random is compared per seed within the same
experiment and budget (same pool, same recipe), never pooled across settings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.base.splits import ACCURACY_SPLITS
from core.base.statistics import (
    NOT_DISTINGUISHABLE,
    Interval,
    correlation,
    difference_interval,
    mean_interval,
    mean_std,
    paired_differences,
    verdict,
)
from core.selection import method_order
from core.storage.atomic import config_id
from core.storage.store import RunStore

BASELINE = "random"
# config keys that tell runs of one setting apart (seed) and the settings of one experiment apart
# (method, its parameters, budget); everything else in the config defines the experiment
SEED_KEYS = ("seed",)
ROW_KEYS = ("method", "budget", "method_params", "selector_params")


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def with_settings(store: RunStore, runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` plus ``setting`` (hash of the config without the seed), ``experiment`` (without
    seed, method, method parameters and budget), ``experiment_label`` (what tells this
    experiment apart from the others in ``runs``), ``adapt_loss`` and ``preset``."""
    if runs.empty:
        return runs.assign(setting=[], experiment=[], experiment_label=[], adapt_loss=[], preset=[])
    configs = {r: store.load_config(r)["config"] for r in runs["run_id"]}
    setting = {
        r: config_id({k: v for k, v in c.items() if k not in SEED_KEYS}) for r, c in configs.items()
    }
    rest = {
        r: {k: v for k, v in c.items() if k not in SEED_KEYS + ROW_KEYS} for r, c in configs.items()
    }
    experiment = {r: config_id(c) for r, c in rest.items()}
    flat = {experiment[r]: _flat(c) for r, c in rest.items()}
    keys = sorted(set().union(*flat.values()))
    differing = [
        k for k in keys if len({json.dumps(f.get(k), default=str) for f in flat.values()}) > 1
    ]
    labels = {}
    for exp, values in flat.items():
        base = [
            values.get("scenario"),
            f"{values.get('adaptation', 'full')} adaptation",
            f"loss {values.get('hparams.adapt_loss', 'ce')}",
            f"{values.get('hparams.preset', 'default')} recipe",
        ]
        extra = [
            f"{k.removeprefix('hparams.')}={values.get(k)}"
            for k in differing
            if k not in ("scenario", "adaptation", "hparams.adapt_loss", "hparams.preset")
        ]
        labels[exp] = " · ".join(str(b) for b in base + extra)
    hparams = {r: c.get("hparams", {}) for r, c in configs.items()}
    return runs.assign(
        setting=runs["run_id"].map(setting),
        experiment=runs["run_id"].map(experiment),
        experiment_label=runs["run_id"].map(lambda r: labels[experiment[r]]),
        adapt_loss=runs["run_id"].map(lambda r: hparams[r].get("adapt_loss", "ce")),
        preset=runs["run_id"].map(lambda r: hparams[r].get("preset", "default")),
    )


def experiments(
    store: RunStore, run_ids: Sequence[str] | None = None, scenario: str | None = None
) -> pd.DataFrame:
    """One row per experiment: its id, label and number of runs, largest first."""
    runs = with_settings(store, _runs(store, run_ids, scenario))
    if runs.empty:
        return pd.DataFrame(columns=["experiment", "experiment_label", "n_runs"])
    table = runs.groupby(["experiment", "experiment_label"]).size().rename("n_runs")
    return table.reset_index().sort_values("n_runs", ascending=False, kind="stable")


def _runs(store: RunStore, run_ids: Sequence[str] | None, scenario: str | None) -> pd.DataFrame:
    runs = store.finished_runs()
    if run_ids is not None:
        runs = runs[runs["run_id"].isin(list(run_ids))]
    if scenario is not None:
        runs = runs[runs["scenario"] == scenario]
    return runs


def accuracy_long(
    store: RunStore, run_ids: Sequence[str] | None = None, scenario: str | None = None
) -> pd.DataFrame:
    """One row per (run, split, stage): experiment, setting, method, budget, seed, accuracy,
    loss."""
    runs = with_settings(store, _runs(store, run_ids, scenario))
    keys = ["run_id", "scenario", "method", "budget", "seed", "experiment", "setting"]
    frames = [store.load_table(run_id, "accuracy") for run_id in runs["run_id"]]
    if not frames:
        return pd.DataFrame(columns=[*keys, "split", "stage", "n", "accuracy", "loss"])
    # one concat and one merge, not seven column inserts per run (most of the time at 48)
    every = pd.concat(frames, keys=list(runs["run_id"]), names=["run_id", None])
    every = every.reset_index(level="run_id").reset_index(drop=True)
    return runs[keys].merge(every, on="run_id", how="inner", validate="one_to_many")


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(method_order(table["method"]))}
    return table.sort_values(
        ["budget", "method"], key=lambda c: c.map(order) if c.name == "method" else c, kind="stable"
    ).reset_index(drop=True)


def accuracy_summary(long: pd.DataFrame, split: str = "test", stage: str = "after") -> pd.DataFrame:
    """Per setting (method, budget, ...): mean, std and number of seeds, and the paired
    difference to Random (same experiment, budget and seed) with its t interval and verdict.

    ``diff_to_random`` is the mean per-seed difference; ``diff_low``/``diff_high`` its 95%
    interval; ``diff_verdict`` "higher", "lower" or NOT_DISTINGUISHABLE.
    """
    part = long[(long["split"] == split) & (long["stage"] == stage)]
    if "setting" not in part.columns:  # a long table built by hand: one setting per row key
        part = part.assign(setting=part["method"] + "|" + part["budget"].astype(str), experiment="")
    rows = []
    paired = paired_differences(part, "accuracy", pair_on=("experiment", "budget", "seed"))
    for (setting, method, budget), group in part.groupby(
        ["setting", "method", "budget"], sort=False
    ):
        mean, std, n = mean_std(group["accuracy"])
        diffs = paired[paired["setting"] == setting]["difference"]
        interval = (
            difference_interval(diffs)
            if method != BASELINE
            else Interval(float("nan"), float("nan"), float("nan"), 0, "paired t")
        )
        rows.append(
            {
                "experiment": group["experiment"].iloc[0],
                "setting": setting,
                "method": method,
                "budget": budget,
                "mean": mean,
                "std": 0.0 if n == 1 else std,
                "n_seeds": n,
                "diff_to_random": interval.estimate,
                "diff_low": interval.low,
                "diff_high": interval.high,
                "n_pairs": interval.n,
                "diff_verdict": verdict(interval) if method != BASELINE else "",
            }
        )
    columns = [
        "experiment",
        "setting",
        "method",
        "budget",
        "mean",
        "std",
        "n_seeds",
        "diff_to_random",
        "diff_low",
        "diff_high",
        "n_pairs",
        "diff_verdict",
    ]
    return _ordered(pd.DataFrame(rows, columns=columns))


def accuracy_matrix(summary: pd.DataFrame) -> pd.DataFrame:
    """Selectors x budgets as 'mean ± std (n) Δ diff [low, high]' strings in percent, for
    printing; a '≈' marks a difference not distinguishable at this number of seeds."""

    def cell(row: pd.Series) -> str:
        text = f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f} (n={row['n_seeds']})"
        if not np.isnan(row["diff_to_random"]) and row["method"] != BASELINE:
            mark = "≈" if row["diff_verdict"] == NOT_DISTINGUISHABLE else ""
            bounds = (
                f"[{100 * row['diff_low']:+.2f}, {100 * row['diff_high']:+.2f}]"
                if np.isfinite(row["diff_low"])
                else "[n/a]"
            )
            text += f" Δ{mark}{100 * row['diff_to_random']:+.2f} {bounds}"
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
    keys = (
        ["setting", "method", "budget", "split"]
        if "setting" in part
        else ["method", "budget", "split"]
    )
    stats = (
        part.groupby(keys)["accuracy"]
        .agg(
            mean="mean",
            std=lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else 0.0,
            n_seeds="count",
        )
        .reset_index()
    )
    stats["split"] = pd.Categorical(stats["split"], list(ACCURACY_SPLITS), ordered=True)
    order = {m: i for i, m in enumerate(method_order(stats["method"]))}
    return stats.sort_values(
        ["budget", "method", "split"], key=lambda c: c.map(order) if c.name == "method" else c
    ).reset_index(drop=True)


def run_summaries(
    store: RunStore,
    run_ids: Sequence[str] | None = None,
    scenario: str | None = None,
    intervals: bool = True,
) -> pd.DataFrame:
    """Every run's per-space summary rows with its experiment, setting, method, budget and seed.

    With ``intervals``, runs recorded before the within-run intervals existed get them computed
    from their pairs.
    """
    runs = with_settings(store, _runs(store, run_ids, scenario))
    frames = []
    for row in runs.itertuples(index=False):
        table = store.load_table(row.run_id, "summary")
        if intervals and "spearman_low" not in table.columns:
            from core.records.gaps import correlation_intervals  # loads torch: older runs only

            pairs = store.load_table(row.run_id, "pairs")
            extra = pd.DataFrame(
                [
                    {
                        "space": str(space),
                        **correlation_intervals(
                            group["distance"].to_numpy(), group["gap"].to_numpy()
                        ),
                    }
                    for space, group in pairs.groupby("space", sort=False)
                ]
            )
            table = table.merge(extra, on="space", how="left")
        frames.append(table)
    keys = ["run_id", "experiment", "experiment_label", "setting", "method", "budget", "seed"]
    if not frames:
        return pd.DataFrame(columns=[*keys, "space"])
    # one concat and one merge, not seven column inserts per run (a third of the time at 48)
    every = pd.concat(frames, keys=list(runs["run_id"]), names=["run_id", None])
    every = every.reset_index(level="run_id").reset_index(drop=True)
    return runs[keys].merge(every, on="run_id", how="inner", validate="one_to_many")


def _per_seed_text(values: pd.Series, low: pd.Series, high: pd.Series) -> str:
    return "; ".join(
        f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else f"{v:+.2f}"
        for v, lo, hi in zip(values, low, high, strict=True)
    )


def correlation_summary(
    store: RunStore,
    run_ids: Sequence[str] | None = None,
    scenario: str | None = None,
    legacy_intervals: bool = True,
) -> pd.DataFrame:
    """Figure 5 in numbers, per (setting, space): mean, std and per-seed values of both
    correlations, each seed with its bootstrap interval over pairs, and a bootstrap interval of
    the mean over seeds (``<kind>_low``/``<kind>_high``).

    Runs recorded before within-run intervals were stored get them from their pairs (about a
    second per run) unless ``legacy_intervals`` is False (then those show NaN bounds)."""
    every = run_summaries(store, run_ids, scenario, intervals=legacy_intervals)
    for column in ("pearson_low", "pearson_high", "spearman_low", "spearman_high"):
        if column not in every.columns:
            every[column] = np.nan
    columns = [
        "experiment",
        "setting",
        "method",
        "budget",
        "space",
        "n_seeds",
        "pearson",
        "pearson_std",
        "pearson_low",
        "pearson_high",
        "pearson_per_seed",
        "spearman",
        "spearman_std",
        "spearman_low",
        "spearman_high",
        "spearman_per_seed",
        "gamma_spearman",
        "max_gap",
        "mean_gap",
        "weighted_train_loss_reduction",
    ]
    if every.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (setting, space), group in every.sort_values("seed").groupby(
        ["setting", "space"], sort=False
    ):
        row: dict[str, Any] = {
            "experiment": group["experiment"].iloc[0],
            "setting": setting,
            "method": group["method"].iloc[0],
            "budget": group["budget"].iloc[0],
            "space": space,
            "n_seeds": len(group),
        }
        for kind in ("pearson", "spearman"):
            mean, std, _ = mean_std(group[kind])
            across = mean_interval(group[kind].to_numpy())
            row.update(
                {
                    kind: mean,
                    f"{kind}_std": std,
                    f"{kind}_low": across.low,
                    f"{kind}_high": across.high,
                    f"{kind}_per_seed": _per_seed_text(
                        group[kind], group[f"{kind}_low"], group[f"{kind}_high"]
                    ),
                }
            )
        for column in ("gamma_spearman", "max_gap", "mean_gap", "weighted_train_loss_reduction"):
            row[column] = float(group[column].mean())
        rows.append(row)
    return _ordered(pd.DataFrame(rows, columns=columns))


THEORY_COLUMNS = (
    "bound_holds_fraction",
    "first_order_holds_fraction",
    "max_signed_gap",
    "median_bound_over_gap",
    "mean_first_order",
    "mean_second_order",
    "dtheta",
    "pair_difference_term",
    "max_gap_term",
    "max_gap_term_printed",
)


def theory_table(
    store: RunStore, run_ids: Sequence[str] | None = None, scenario: str | None = None
) -> pd.DataFrame:
    """Per run and space: Theorem 4 (fraction of pairs where the bound and its first-order term
    alone hold, the terms' sizes), Proposition 2's decomposition, and how well |z| ranks the pool
    like the full-network tangent norm (Spearman, ``proxy_spearman``).

    Proposition 2: ``test_r`` (mean loss reduction on the target test set, the estimate of
    E_D[r]) >= ``weighted_train_loss_reduction`` - ``max_gap_term`` + ``generalisation_gap``,
    with ``generalisation_gap`` = test_r - pool mean r; the max-gap term carries the proof's
    (N - |s|)/N (``max_gap_term_printed``: the printed 1/n). NaN columns: runs recorded
    before these quantities existed.
    """

    every = run_summaries(store, run_ids, scenario, intervals=False)
    for column in THEORY_COLUMNS:
        if column not in every.columns:
            every[column] = np.nan
    extra = []
    for run_id in every["run_id"].unique() if not every.empty else []:
        accuracy = store.load_table(run_id, "accuracy", columns=["split", "stage", "loss", "n"])
        row = {
            (split, stage): (loss, n)
            for split, stage, loss, n in zip(
                accuracy["split"], accuracy["stage"], accuracy["loss"], accuracy["n"], strict=True
            )
        }  # a dict, not a MultiIndex: 48 runs' lookups took a quarter of a second
        mean_r = {}
        for split in ("test", "selected_train", "unselected_train"):
            mean_r[split] = row[(split, "before")][0] - row[(split, "after")][0]
        n_sel = row[("selected_train", "after")][1]
        n_unsel = row[("unselected_train", "after")][1]
        pool_r = (n_sel * mean_r["selected_train"] + n_unsel * mean_r["unselected_train"]) / (
            n_sel + n_unsel
        )
        samples = store.load_table(run_id, "samples", columns=["znorm", "tangent_norm_full"])
        proxy = float("nan")
        if "tangent_norm_full" in samples and samples["tangent_norm_full"].notna().all():
            proxy = correlation("spearman", samples["znorm"], samples["tangent_norm_full"])
        extra.append(
            {
                "run_id": run_id,
                "test_r": float(mean_r["test"]),
                "pool_r": float(pool_r),
                "generalisation_gap": float(mean_r["test"] - pool_r),
                "proxy_spearman": proxy,
            }
        )
    columns = [
        "experiment",
        "experiment_label",
        "setting",
        "method",
        "budget",
        "seed",
        "space",
        "n_pairs",
        *THEORY_COLUMNS,
        "weighted_train_loss_reduction",
        "test_r",
        "pool_r",
        "generalisation_gap",
        "proxy_spearman",
        "run_id",
    ]
    if every.empty:
        return pd.DataFrame(columns=columns)
    table = every.merge(pd.DataFrame(extra), on="run_id", how="left")
    return _ordered(table[columns])
