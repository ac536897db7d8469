"""Tables over many runs: the paper's Tables 1-4, the Figure 5 correlation summary and the
theory table (Theorem 4, Proposition 2), each with how sure it is (``core.base.statistics``).

Both the CLI (`python -m core table`) and the dashboard's pages call these, so what the app
shows can always be reproduced headless.

Runs are grouped by their full configuration apart from the seeds (a *setting*); the settings
that differ only in method (the selector, whoever wrote it, with its parameters) and budget form
one *experiment* (one methods x budgets table). Two settings are never averaged together, and
Random is compared per seed within the same experiment, budget and source model (same pool,
same recipe), never pooled across settings.

Two seeds, two levels of variation: ``source_seed`` (hparams) trains another source model and
pool; ``seed`` is the selection (and adaptation) seed within one. Both are seeds of one
setting; statistics average each source model's seeds first and put the interval over the
source-model means (``core.base.statistics.nested_interval``), and tables show the spread across
source models and across selection seeds in separate columns.
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
    TOO_FEW,
    Interval,
    correlation,
    mean_std,
    nested_interval,
    paired_differences,
    verdict,
)
from core.records.tangent_norms import FULL_TANGENT, with_tangent_norms
from core.selection import method_order
from core.storage.atomic import config_id
from core.storage.integrity import QUARANTINE
from core.storage.store import RunStore

BASELINE = "random"
# config keys that tell runs of one setting apart (the selection seed; hparams.source_seed, the
# source model's seed, is the other) and the settings of one experiment apart (the method: its
# name, its parameters, a plugin's import path; and the budget); the rest defines the experiment
SEED_KEYS = ("seed",)
SOURCE_SEED = "source_seed"
ROW_KEYS = ("method", "budget", "method_params", "selector_params", "selector")
# what every experiment label names; other differences are added, at most LABEL_EXTRAS of them
LABEL_BASE = ("scenario", "adaptation", "hparams.adapt_loss", "hparams.preset")
LABEL_EXTRAS = 3


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def without_seeds(config: dict[str, Any]) -> dict[str, Any]:
    """A run config without its selection seed and its source model's seed."""
    out = {k: v for k, v in config.items() if k not in SEED_KEYS}
    if isinstance(out.get("hparams"), dict):
        out["hparams"] = {k: v for k, v in out["hparams"].items() if k != SOURCE_SEED}
    return out


def experiment_id(config: dict[str, Any]) -> str:
    """The experiment of a run config: its hash without seeds, method, parameters and budget."""
    return config_id({k: v for k, v in without_seeds(config).items() if k not in ROW_KEYS})


def _method_params(config: dict[str, Any]) -> dict[str, Any]:
    """The selector's parameters as recorded (a plugin's, a built-in's), flattened."""
    params = dict(_flat(config.get("selector_params") or {}))
    params.update(_flat(config.get("method_params") or {}))
    params.update(_flat((config.get("selector") or {}).get("params") or {}))
    return params


def _short(value: Any, width: int = 16) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def method_labels(configs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Run id -> the method's label: its name, and in brackets the parameters in which runs of
    that name differ (``typiclust(k_nn=20)``), so two parameterisations are two rows."""
    params = {r: _method_params(c) for r, c in configs.items()}
    by_name: dict[str, list[str]] = {}
    for run_id, config in configs.items():
        by_name.setdefault(str(config.get("method")), []).append(run_id)
    labels = {}
    for name, ids in by_name.items():
        keys = sorted(set().union(*(params[r] for r in ids)))
        differing = [
            k for k in keys if len({json.dumps(params[r].get(k), default=str) for r in ids}) > 1
        ]
        for run_id in ids:
            inside = ", ".join(f"{k}={_short(params[run_id].get(k))}" for k in differing)
            labels[run_id] = f"{name}({inside})" if inside else name
    return labels


def with_settings(store: RunStore, runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` plus ``setting`` (hash of the config without the seeds), ``experiment``
    (without seeds, method, method parameters and budget), ``experiment_label`` (in a few words,
    what tells this experiment apart from the others in ``runs``), ``method_label`` (the method
    with the parameters in which its runs differ), ``source_seed``, ``adapt_loss`` and
    ``preset``."""
    if runs.empty:
        return runs.assign(
            setting=[],
            experiment=[],
            experiment_label=[],
            method_label=[],
            source_seed=[],
            adapt_loss=[],
            preset=[],
        )
    configs = {r: store.load_config(r)["config"] for r in runs["run_id"]}
    setting = {r: config_id(without_seeds(c)) for r, c in configs.items()}
    rest = {
        r: {k: v for k, v in without_seeds(c).items() if k not in ROW_KEYS}
        for r, c in configs.items()
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
            f"{k.removeprefix('hparams.')}={_short(values.get(k))}"
            for k in differing
            if k not in LABEL_BASE
        ]
        if len(extra) > LABEL_EXTRAS:
            extra = [*extra[:LABEL_EXTRAS], f"+{len(extra) - LABEL_EXTRAS} more"]
        labels[exp] = " · ".join(str(b) for b in base + extra)
    shared = {label for label in labels.values() if list(labels.values()).count(label) > 1}
    for exp, label in labels.items():  # shortened labels that collide: the id tells them apart
        if label in shared:
            labels[exp] = f"{label} · #{exp[:6]}"
    hparams = {r: c.get("hparams", {}) for r, c in configs.items()}
    method_label = method_labels(configs)
    return runs.assign(
        setting=runs["run_id"].map(setting),
        experiment=runs["run_id"].map(experiment),
        experiment_label=runs["run_id"].map(lambda r: labels[experiment[r]]),
        method_label=runs["run_id"].map(method_label),
        source_seed=runs["run_id"].map(lambda r: int(hparams[r].get(SOURCE_SEED, 0))),
        adapt_loss=runs["run_id"].map(lambda r: hparams[r].get("adapt_loss", "ce")),
        preset=runs["run_id"].map(lambda r: hparams[r].get("preset", "default")),
    )


def set_aside_runs(store: RunStore) -> pd.DataFrame:
    """Runs the store set aside as damaged (``RunStore.damaged``, what the pages' sidebar counts)
    with the experiment and scenario their quarantined config names (read as JSON data only;
    None when it cannot be read): one row per run with run_id, scenario, experiment, reason."""
    rows = []
    for record in store.damaged():
        if record.get("kind") != "run":
            continue
        scenario = experiment = None
        moved = record.get("moved_to")
        path = store.root / QUARANTINE / str(moved) / "config.json" if moved else None
        if path is None and record.get("id"):  # damaged in place (a read-only store)
            path = store.root / str(record["id"]) / "config.json"
        try:
            config = json.loads(path.read_text())["config"] if path is not None else None
            if isinstance(config, dict):
                scenario, experiment = config.get("scenario"), experiment_id(config)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        rows.append(
            {
                "run_id": record.get("id"),
                "scenario": scenario,
                "experiment": experiment,
                "reason": record.get("reason"),
            }
        )
    return pd.DataFrame(rows, columns=["run_id", "scenario", "experiment", "reason"])


def set_aside_notice(set_aside: pd.DataFrame, experiment: str, scenario: str) -> str:
    """One sentence for a table of ``experiment`` when runs of it (or of unknown experiment)
    were set aside as damaged; empty when none were."""
    mine = set_aside[set_aside["experiment"] == experiment]
    unknown = set_aside[set_aside["experiment"].isna()]
    parts = []
    if len(mine):
        parts.append(
            f"{len(mine)} run(s) of this setting were set aside as damaged and are not "
            f"counted in n ({mine['reason'].iloc[0]})"
        )
    if len(unknown):
        parts.append(
            f"{len(unknown)} damaged run(s) whose setting cannot be read were set aside"
            + (f" (scenario {scenario} or another)" if scenario else "")
        )
    if not parts:
        return ""
    return (
        "; ".join(parts) + ". `python -m core list --damaged` lists them; the next "
        "`python -m core run` of this sweep redoes them."
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
    """One row per (run, split, stage): experiment, setting, method (and its label), budget,
    source seed, seed, accuracy, loss."""
    runs = with_settings(store, _runs(store, run_ids, scenario))
    keys = [
        "run_id",
        "scenario",
        "method",
        "method_label",
        "budget",
        "source_seed",
        "seed",
        "experiment",
        "setting",
    ]
    frames = [store.load_table(run_id, "accuracy") for run_id in runs["run_id"]]
    if not frames:
        return pd.DataFrame(columns=[*keys, "split", "stage", "n", "accuracy", "loss"])
    # one concat and one merge, not seven column inserts per run (most of the time at 48)
    every = pd.concat(frames, keys=list(runs["run_id"]), names=["run_id", None])
    every = every.reset_index(level="run_id").reset_index(drop=True)
    return runs[keys].merge(every, on="run_id", how="inner", validate="one_to_many")


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(method_order(table["method"]))}
    by = ["budget", "method", "method_label"] if "method_label" in table else ["budget", "method"]
    return table.sort_values(
        by, key=lambda c: c.map(order) if c.name == "method" else c, kind="stable"
    ).reset_index(drop=True)


def _with_seed_columns(part: pd.DataFrame) -> pd.DataFrame:
    """A long table built by hand (tests, older callers): one setting per method and budget,
    one source model, the method as its label."""
    if "setting" not in part.columns:
        part = part.assign(setting=part["method"] + "|" + part["budget"].astype(str), experiment="")
    if "source_seed" not in part.columns:
        part = part.assign(source_seed=0)
    if "method_label" not in part.columns:
        part = part.assign(method_label=part["method"])
    return part


ACCURACY_COLUMNS = [
    "experiment",
    "setting",
    "method",
    "method_label",
    "budget",
    "mean",
    "low",
    "high",
    "interval",
    "std",
    "source_std",
    "seed_std",
    "n_source_models",
    "n_seeds",
    "diff_to_random",
    "diff_low",
    "diff_high",
    "diff_interval",
    "n_pairs",
    "diff_verdict",
]


def accuracy_summary(long: pd.DataFrame, split: str = "test", stage: str = "after") -> pd.DataFrame:
    """Per setting (method, budget, ...) over source models x selection seeds: the mean with
    its nested t interval (``low``/``high``, method named in ``interval``), the spread across
    source models (``source_std``, of their means) and across selection seeds within one
    (``seed_std``), ``std`` over every run, ``n_source_models`` and ``n_seeds`` (runs); and the
    paired difference to Random (same experiment, budget, source model and seed) with its
    nested t interval and verdict.

    ``diff_to_random`` is the mean per-seed difference; ``diff_low``/``diff_high`` its 95%
    interval (``diff_interval``: its method); ``diff_verdict`` "higher", "lower" or
    NOT_DISTINGUISHABLE.
    """
    part = _with_seed_columns(long[(long["split"] == split) & (long["stage"] == stage)])
    rows = []
    paired = paired_differences(
        part, "accuracy", pair_on=("experiment", "budget", "source_seed", "seed")
    )
    nan = float("nan")
    for (setting, method, label, budget), group in part.groupby(
        ["setting", "method", "method_label", "budget"], sort=False
    ):
        _, std, n = mean_std(group["accuracy"])
        level = nested_interval(group["accuracy"], group["source_seed"])
        if method != BASELINE:
            diffs = paired[paired["setting"] == setting]
            difference = nested_interval(diffs["difference"], diffs["source_seed"]).interval
        else:
            difference = Interval(nan, nan, nan, 0, "paired t")
        rows.append(
            {
                "experiment": group["experiment"].iloc[0],
                "setting": setting,
                "method": method,
                "method_label": label,
                "budget": budget,
                "mean": level.interval.estimate,
                "low": level.interval.low,
                "high": level.interval.high,
                "interval": level.interval.method,
                "std": 0.0 if n == 1 else std,
                "source_std": level.source_std,
                "seed_std": level.seed_std,
                "n_source_models": level.n_sources,
                "n_seeds": n,
                "diff_to_random": difference.estimate,
                "diff_low": difference.low,
                "diff_high": difference.high,
                "diff_interval": difference.method if method != BASELINE else "",
                "n_pairs": difference.n,
                "diff_verdict": verdict(difference) if method != BASELINE else "",
            }
        )
    return _ordered(pd.DataFrame(rows, columns=ACCURACY_COLUMNS))


def _spread_text(row: pd.Series | dict[str, Any], scale: float = 100.0, digits: int = 2) -> str:
    """'± 1.20 (n=3)' for one source model; '± 2.10 src, ± 1.20 seed (3 src x 3 seeds)'."""
    if row["n_source_models"] > 1:
        seed = row["seed_std"]
        seed_text = f"{scale * seed:.{digits}f}" if np.isfinite(seed) else "n/a"
        runs = int(row["n_seeds"])
        sources = int(row["n_source_models"])
        shape = (
            f"{sources} src x {runs // sources} seeds"
            if runs % sources == 0
            else (f"{sources} src, {runs} runs")
        )
        return f"± {scale * row['source_std']:.{digits}f} src, ± {seed_text} seed ({shape})"
    return f"± {scale * row['std']:.{digits}f} (n={row['n_seeds']})"


def accuracy_matrix(summary: pd.DataFrame) -> pd.DataFrame:
    """Methods x budgets as 'mean ± std (n) Δ diff [low, high]' strings in percent, for
    printing (with source models: the spread across source models and across seeds); a '≈'
    marks a difference not distinguishable at this number of seeds, '[n/a]' too few seeds."""

    def cell(row: pd.Series) -> str:
        text = f"{100 * row['mean']:.2f} {_spread_text(row)}"
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
    frame = _with_seed_columns(summary)
    if "n_source_models" not in frame.columns:
        frame = frame.assign(n_source_models=1)
    frame = frame.assign(cell=frame.apply(cell, axis=1))
    matrix = frame.pivot(index="method_label", columns="budget", values="cell")
    order = {m: i for i, m in enumerate(method_order(frame["method"]))}
    labels = frame.drop_duplicates("method_label").sort_values(
        ["method", "method_label"], key=lambda c: c.map(order) if c.name == "method" else c
    )["method_label"]
    matrix = matrix.reindex(list(labels))
    matrix.index.name = "method"
    matrix.columns = [f"{100 * b:g}%" for b in matrix.columns]
    return matrix


def interval_note(summary: pd.DataFrame) -> str:
    """How the intervals of ``summary`` were computed, in one sentence (TOO_FEW included)."""
    methods = sorted(set(summary.get("diff_interval", pd.Series(dtype=str))) - {""})
    sources = sorted(set(summary.get("n_source_models", pd.Series(dtype=int))))
    text = "Δ intervals: 95% " + (" / ".join(methods) or "t")
    if sources and max(sources) > 1:
        text += (
            " (each source model's seeds averaged first, n = number of source models; "
            "'src' is the spread of the source-model means, 'seed' of selection seeds within one)"
        )
    if (summary.get("n_pairs", pd.Series([2])) < 2).any():
        text += f"; [n/a]: {TOO_FEW}"
    return text


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
    keys = [
        "run_id",
        "experiment",
        "experiment_label",
        "setting",
        "method",
        "method_label",
        "budget",
        "source_seed",
        "seed",
    ]
    if not frames:
        return pd.DataFrame(columns=[*keys, "space"])
    # one concat and one merge, not seven column inserts per run (a third of the time at 48)
    every = pd.concat(frames, keys=list(runs["run_id"]), names=["run_id", None])
    every = every.reset_index(level="run_id").reset_index(drop=True)
    return runs[keys].merge(every, on="run_id", how="inner", validate="one_to_many")


def _per_seed_text(
    values: pd.Series, low: pd.Series, high: pd.Series, names: Sequence[str] | None = None
) -> str:
    """'+0.31 [+0.20, +0.41]; ...' per run in seed order; ``names`` (with several source
    models: 's<source seed>/<seed>') prefix each run."""
    names = [f"{name} " for name in names] if names is not None else [""] * len(values)
    return "; ".join(
        f"{name}{v:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else f"{name}{v:+.2f}"
        for name, v, lo, hi in zip(names, values, low, high, strict=True)
    )


CORRELATION_COLUMNS = [
    "experiment",
    "setting",
    "method",
    "method_label",
    "budget",
    "space",
    "n_source_models",
    "n_seeds",
    *[
        f"{kind}{suffix}"
        for kind in ("pearson", "spearman")
        for suffix in (
            "",
            "_std",
            "_source_std",
            "_seed_std",
            "_low",
            "_high",
            "_interval",
            "_per_seed",
        )
    ],
    "gamma_spearman",
    "max_gap",
    "mean_gap",
    "weighted_train_loss_reduction",
]


def correlation_summary(
    store: RunStore,
    run_ids: Sequence[str] | None = None,
    scenario: str | None = None,
    legacy_intervals: bool = True,
) -> pd.DataFrame:
    """Figure 5 in numbers, per (setting, space) over source models x selection seeds: both
    correlations' mean with a nested t interval (``<kind>_low``/``<kind>_high``, method named in
    ``<kind>_interval``: over source-model means, or over seeds given one source model), their
    std over every run, across source models (``_source_std``) and across seeds within one
    (``_seed_std``), and the per-run values, each with its bootstrap interval over pairs.

    Runs recorded before within-run intervals were stored get them from their pairs (about a
    second per run) unless ``legacy_intervals`` is False (then those show NaN bounds)."""
    every = run_summaries(store, run_ids, scenario, intervals=legacy_intervals)
    for column in ("pearson_low", "pearson_high", "spearman_low", "spearman_high"):
        if column not in every.columns:
            every[column] = np.nan
    if every.empty:
        return pd.DataFrame(columns=CORRELATION_COLUMNS)
    rows = []
    for (setting, space), group in every.sort_values(["source_seed", "seed"]).groupby(
        ["setting", "space"], sort=False
    ):
        row: dict[str, Any] = {
            "experiment": group["experiment"].iloc[0],
            "setting": setting,
            "method": group["method"].iloc[0],
            "method_label": group["method_label"].iloc[0],
            "budget": group["budget"].iloc[0],
            "space": space,
            "n_source_models": int(group["source_seed"].nunique()),
            "n_seeds": len(group),
        }
        for kind in ("pearson", "spearman"):
            _, std, _ = mean_std(group[kind])
            two = nested_interval(group[kind].to_numpy(), group["source_seed"].to_numpy())
            row.update(
                {
                    kind: two.interval.estimate,
                    f"{kind}_std": std,
                    f"{kind}_source_std": two.source_std,
                    f"{kind}_seed_std": two.seed_std,
                    f"{kind}_low": two.interval.low,
                    f"{kind}_high": two.interval.high,
                    f"{kind}_interval": two.interval.method,
                    f"{kind}_per_seed": _per_seed_text(
                        group[kind],
                        group[f"{kind}_low"],
                        group[f"{kind}_high"],
                        (
                            "s" + group["source_seed"].astype(str) + "/" + group["seed"].astype(str)
                            if group["source_seed"].nunique() > 1
                            else None
                        ),
                    ),
                }
            )
        for column in ("gamma_spearman", "max_gap", "mean_gap", "weighted_train_loss_reduction"):
            row[column] = float(group[column].mean())
        rows.append(row)
    return _ordered(pd.DataFrame(rows, columns=CORRELATION_COLUMNS))


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
        samples = store.load_table(run_id, "samples", columns=["idx", "znorm", FULL_TANGENT])
        samples = with_tangent_norms(store, store.load_config(run_id)["pool_id"], samples)
        proxy = float("nan")
        if samples[FULL_TANGENT].notna().all():
            proxy = correlation("spearman", samples["znorm"], samples[FULL_TANGENT])
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
        "method_label",
        "budget",
        "source_seed",
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
    return _ordered(table[columns].sort_values(["source_seed", "seed"], kind="stable"))


# the theory table in 100 columns: (column, short name, what it is); `--wide` prints them all
THEORY_BRIEF = (
    ("method_label", "method", "the selector (with parameters where runs of it differ)"),
    ("budget", "budget", "labelled share of the pool"),
    ("seeds", "src/seed", "source-model seed / selection seed"),
    ("space", "space", "embedding space whose nearest-neighbour pairs are checked"),
    ("bound_holds_fraction", "holds", "share of pairs where Theorem 4's whole bound holds"),
    ("first_order_holds_fraction", "1st", "share where its first-order term alone holds"),
    ("max_signed_gap", "max_gap", "largest signed gap r(x) - r(x') (x selected, x' its pair)"),
    ("median_bound_over_gap", "bnd/gap", "median over pairs of the bound / |gap|"),
    ("dtheta", "|dθ|", "how far adaptation moved the last layer, ||Δθ||"),
    ("test_r", "test_r", "mean loss reduction on the target test set (Proposition 2's E[r])"),
    ("generalisation_gap", "gen_gap", "test_r minus the pool's mean loss reduction"),
    ("proxy_spearman", "proxy", "Spearman of |z| with the full tangent-feature norm"),
)


def theory_brief(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The theory table's headline columns under short names (about 90 characters wide when
    printed with 3 significant digits) and a legend line per column."""
    view = table.assign(
        seeds=table["source_seed"].astype(str) + "/" + table["seed"].astype(str),
        budget=[f"{100 * b:g}%" for b in table["budget"]],
    )
    columns = [c for c, _, _ in THEORY_BRIEF]
    view = view[columns].rename(columns={c: short for c, short, _ in THEORY_BRIEF})
    legend = [f"{short:>8}  {what}" for _, short, what in THEORY_BRIEF]
    return view, legend
