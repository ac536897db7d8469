"""Display-side aggregates the figures show: correlations, binned trends, overlaps, coverage.

Pure numpy/pandas on run-store tables; no Streamlit, no plotting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from core.base.statistics import TOO_FEW, nested_interval
from core.base.statistics import correlation as correlation_of
from core.base.validation import check_columns, check_int_range


@dataclass(frozen=True)
class Correlation:
    """Pearson and Spearman coefficients of one scatter (NaN when undefined)."""

    pearson: float
    spearman: float
    n: int

    def label(self) -> str:
        def fmt(value: float) -> str:
            if np.isnan(value):
                return "n/a"
            text = f"{value:.2f}"
            return "0.00" if text == "-0.00" else text

        return f"Pearson r = {fmt(self.pearson)} · Spearman ρ = {fmt(self.spearman)} · n = {self.n}"

    def short_label(self) -> str:
        """Both coefficients without n (n is the same in every panel of one space)."""
        return self.label().rsplit(" · n =", 1)[0]


def correlation(x: Iterable[float], y: Iterable[float]) -> Correlation:
    """Both coefficients over finite pairs (``core.base.statistics.correlation``, the numbers
    the records hold); NaN when fewer than 3 pairs or a side is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = int((np.isfinite(x) & np.isfinite(y)).sum())
    return Correlation(correlation_of("pearson", x, y), correlation_of("spearman", x, y), n)


def run_keys(frame: pd.DataFrame) -> list[str]:
    """The columns that tell runs of one method and budget apart: the selection seed, and the
    source model's seed when the frame has it (two source models' seed 0 are different runs)."""
    return ["source_seed", "seed"] if "source_seed" in frame.columns else ["seed"]


def seed_interval_text(pairs: pd.DataFrame, x: str, kind: str = "spearman") -> str:
    """One line for a Figure 5 panel title: ``kind`` of ``x`` with the gap per run, and their
    mean with a 95% t interval naming its n (``core.base.statistics.nested_interval``: over
    source-model means when there are several source models, else over seeds); TOO_FEW below
    2; empty without seeds."""
    if "seed" not in pairs.columns or pairs.empty:
        return ""
    keys = run_keys(pairs)
    runs = [
        (key if isinstance(key, tuple) else (0, key), getattr(correlation(g[x], g["gap"]), kind))
        for key, g in pairs.groupby(keys if len(keys) > 1 else keys[0])
    ]
    values = np.array([v for _, v in runs])
    sources = [key[0] for key, _ in runs]
    two = nested_interval(values, sources)
    symbol = "ρ" if kind == "spearman" else "r"

    def shown(numbers: Iterable[float]) -> str:
        return " ".join("n/a" if np.isnan(v) else f"{v:+.2f}" for v in numbers)

    if two.n_sources > 1:
        means = pd.Series(values).groupby(sources).mean()
        return (
            f"{symbol} per source model {shown(means)} · mean {two.interval.text()} "
            f"(95% t, n={two.n_sources} src)"
        )
    if two.interval.n < 2:
        return f"{symbol} of {len(values)} seed: {shown(values)}, {TOO_FEW}"
    return (
        f"{symbol} by seed {shown(values)} · mean {two.interval.text()} (95% t, n={two.interval.n})"
    )


def binned_mean(x: Iterable[float], y: Iterable[float], bins: int = 12) -> pd.DataFrame:
    """Mean of y in equal-count bins of x (quantile edges), one row per non-empty bin.

    Equal-count bins keep the trend readable when x is skewed (distances and norms are).
    Returns columns x (mean x in the bin), y (mean y), n; sorted by x.
    """
    check_int_range("bins", bins, 1, 1000)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) == 0:
        return pd.DataFrame({"x": [], "y": [], "n": []})
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) < 2:  # constant x: one bin
        return pd.DataFrame({"x": [x.mean()], "y": [y.mean()], "n": [len(x)]})
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    n = np.bincount(which, minlength=len(edges) - 1)
    used = n > 0
    out = pd.DataFrame(
        {
            "x": np.bincount(which, weights=x, minlength=len(n))[used] / n[used],
            "y": np.bincount(which, weights=y, minlength=len(n))[used] / n[used],
            "n": n[used],
        }
    )
    return out.sort_values("x", kind="stable").reset_index(drop=True)


def thinned_rows(values: np.ndarray, limit: int | None, *, extremes: float = 0.25) -> np.ndarray:
    """Positions of at most ``limit`` points to draw out of ``len(values)``, in their order.

    Every point when ``limit`` is None or not exceeded; else the ``extremes`` share of the limit
    with the largest ``values`` (the gaps a reader looks for) plus an evenly spread random sample
    of the rest (seed 0, so the same view draws the same points). A browser without a GPU
    spends about a second per 10,000 WebGL points; statistics are computed on every point.
    """
    n = len(values)
    if limit is None or n <= limit:
        return np.arange(n)
    check_int_range("limit", limit, 1, 10**9)
    top = int(limit * extremes)
    order = np.argsort(-np.nan_to_num(np.asarray(values, np.float64), nan=-np.inf), kind="stable")
    kept = order[:top]
    rest = np.setdiff1d(np.arange(n), kept)
    sample = np.random.default_rng(0).choice(rest, size=limit - top, replace=False)
    return np.sort(np.concatenate([kept, sample]))


def jaccard_matrix(selections: pd.DataFrame) -> pd.DataFrame:
    """Mean Jaccard overlap |A ∩ B| / |A ∪ B| between selectors, averaged over shared seeds.

    ``selections`` has one row per selected sample: method, seed, idx (one budget). Pairs are
    compared only within the same run (seed, and source model when present); the diagonal
    is 1. Methods in first-seen order.
    """
    check_columns("selections", selections, ("method", "seed", "idx"))
    methods = list(dict.fromkeys(selections["method"]))
    keys = run_keys(selections)
    sets = {
        (key[0], key[1:]): set(group["idx"].tolist())
        for key, group in selections.groupby(["method", *keys], sort=False)
    }
    matrix = pd.DataFrame(np.eye(len(methods)), index=methods, columns=methods)
    for first, second in combinations(methods, 2):
        scores = []
        for (method, seed), chosen in sets.items():
            other = sets.get((second, seed))
            if method != first or other is None:
                continue
            union = chosen | other
            scores.append(len(chosen & other) / len(union) if union else 1.0)
        value = float(np.mean(scores)) if scores else float("nan")
        matrix.loc[first, second] = matrix.loc[second, first] = value
    return matrix


def class_histogram(
    selections: pd.DataFrame, pool_labels: Iterable[int], n_classes: int
) -> pd.DataFrame:
    """Fraction of each selection per class (mean over seeds), with the pool as a reference.

    Returns long rows: method ("pool" for the pool itself), label, fraction.
    """
    check_columns("selections", selections, ("method", "seed", "label"))
    labels = np.asarray(list(pool_labels), dtype=np.int64)
    rows = [
        {"method": "pool", "label": c, "fraction": float(np.mean(labels == c))}
        for c in range(n_classes)
    ]
    for method, group in selections.groupby("method", sort=False):
        per_seed = [
            np.bincount(g["label"].to_numpy(np.int64), minlength=n_classes)[:n_classes]
            / max(len(g), 1)
            for _, g in group.groupby(run_keys(group))
        ]
        mean = np.mean(per_seed, axis=0)
        rows += [
            {"method": method, "label": c, "fraction": float(mean[c])} for c in range(n_classes)
        ]
    return pd.DataFrame(rows)


def class_coverage(pairs: pd.DataFrame, space: str) -> pd.DataFrame:
    """Per (method, class): share of unselected samples whose nearest selected one shares the label.

    A class is covered when its samples are represented by a selected sample of the same class
    in the given embedding space. Mean over seeds; columns method, label, coverage, n.
    """
    check_columns("pairs", pairs, ("method", "seed", "space", "label", "nn_label"))
    part = pairs[pairs["space"] == space]
    if part.empty:
        return pd.DataFrame({"method": [], "label": [], "coverage": [], "n": []})
    same = (part["label"].to_numpy() == part["nn_label"].to_numpy()).astype(np.float64)
    frame = part[["method", *run_keys(part), "label"]].assign(same=same)
    per_seed = frame.groupby(["method", *run_keys(part), "label"], sort=False).agg(
        coverage=("same", "mean"), n=("same", "size")
    )
    table = (
        per_seed.groupby(["method", "label"], sort=False)
        .agg(coverage=("coverage", "mean"), n=("n", "mean"))
        .reset_index()
    )
    return table


def selected_keys(event: object, key: str = "customdata") -> list[int]:
    """Row keys of the points picked in a ``st.plotly_chart`` selection event.

    Builders put the row key in each point's customdata (a scalar or a row whose first entry
    is the key); points of traces without customdata (trend lines) are ignored. A row of an
    integer typed array (the figures send customdata that way) reaches Python as a dict
    {"0": key, "1": ...}: the browser serialises typed arrays by index.
    """
    selection = _get(event, "selection")
    points = _get(selection, "points") or []
    keys: list[int] = []
    for point in points:
        value = _get(point, key)
        if isinstance(value, dict):
            value = value.get("0")
        elif isinstance(value, list | tuple):
            value = value[0] if value else None
        if value is None:
            continue
        keys.append(int(value))
    return list(dict.fromkeys(keys))


def _get(container: object, name: str) -> object:
    if container is None:
        return None
    if isinstance(container, dict):
        return container.get(name)
    return getattr(container, name, None)


def domain_histogram(
    selections: pd.DataFrame, pool: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """``class_histogram`` over target domains instead of classes (folder scenarios with several
    target domains): the rows use the domain's position in the returned sorted names."""
    check_columns("pool", pool, ("idx", "domain"))
    names = sorted(pool["domain"].astype(str).unique())
    code = pd.Series(range(len(names)), index=names)
    domains = pool[["idx", "domain"]].assign(label=pool["domain"].astype(str).map(code).to_numpy())
    picked = selections.drop(columns="label", errors="ignore").merge(
        domains[["idx", "label"]], on="idx", how="left", validate="many_to_one"
    )
    return class_histogram(picked, domains["label"], len(names)), names


def with_pool_columns(
    frame: pd.DataFrame, pool: pd.DataFrame, columns: Iterable[str] = ("label",)
) -> pd.DataFrame:
    """``frame`` (with an idx column) joined with per-sample pool facts, row order kept."""
    columns = [c for c in columns if c not in frame.columns]
    return frame.merge(pool[["idx", *columns]], on="idx", how="left", validate="many_to_one")


def group_by_pick(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per selected sample x (per run and space): the unselected samples it represents.

    ``neighbours`` is Proposition 2's c_j (how many unselected x' have x as nearest pick; the
    pick's weight is w_j = c_j + 1), with their mean and largest gap and x's own loss
    reduction r(x). Sorted by the largest gap, so a pick that dominates the largest-gap list
    shows up once, with how many pairs it accounts for.
    """
    check_columns("pairs", pairs, ("space", "seed", "nn_idx", "gap", "nn_r", "nn_label"))
    keys = [c for c in ("method", "budget", "source_seed", "seed", "space") if c in pairs.columns]
    grouped = pairs.groupby([*keys, "nn_idx"], sort=False).agg(
        nn_label=("nn_label", "first"),
        nn_r=("nn_r", "first"),
        neighbours=("gap", "size"),
        mean_gap=("gap", "mean"),
        max_gap=("gap", "max"),
    )
    grouped = grouped.reset_index()
    grouped["weight"] = grouped["neighbours"] + 1
    return grouped.sort_values("max_gap", ascending=False, kind="stable").reset_index(drop=True)
