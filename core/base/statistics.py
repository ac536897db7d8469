"""How sure each number is: t intervals over seeds, bootstrap over pairs, paired differences.

- Within one run, a correlation over its pairs (hundreds) gets a percentile bootstrap interval by
  resampling pairs with replacement (``correlation_interval``).
- Across runs, a per-run statistic (accuracy, a correlation) gets a Student-t interval of its
  mean (``t_interval``). A percentile bootstrap over 3 seeds has only 10 distinct resamples and
  covers a 95% interval's truth about 3 times in 4 (tests/core/test_statistics.py simulates
  both); ``mean_interval`` keeps that bootstrap for large n only.
- Two levels of variation: runs differ by source model (``source_seed``: its own source model and
  pool) and, within one, by selection seed. ``nested_interval`` averages each source model's
  seeds first and puts the t interval over those source-model means (n = number of source
  models): the source model is the larger source of variance (issue 24) and an interval over
  all runs as if independent would be too narrow. With one source model the interval is over its
  selection seeds and says so ("given one source model").
- Accuracy against Random is compared per seed (same source model, seed, pool and setting: a
  paired design); the mean paired difference gets the same (nested) t interval. A difference
  whose interval includes 0 (or with too few seeds) is "not distinguishable at this number of
  seeds".
- Every interval names its method and n; below 2 values there is none, and ``describe`` says
  TOO_FEW rather than printing a number that looks like one.

Every resampling takes an explicit seed, so the numbers are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.base.validation import ForgeLensError, check_choice, check_int_range

LEVEL = 0.95
N_BOOT = 1000
NOT_DISTINGUISHABLE = "not distinguishable at this number of seeds"
TOO_FEW = "too few seeds for an interval"


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided interval at ``level`` (NaN bounds when undefined)."""

    estimate: float
    low: float
    high: float
    n: int
    method: str
    level: float = LEVEL

    @property
    def defined(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    @property
    def includes_zero(self) -> bool:
        """True when 0 lies in the interval, or when there is no interval at all."""
        return not self.defined or self.low <= 0.0 <= self.high

    def text(self, digits: int = 2, scale: float = 1.0) -> str:
        """'0.12 [0.05, 0.20]' (or '0.12 [n/a]' without an interval)."""

        def fmt(value: float) -> str:
            out = f"{scale * value:.{digits}f}"
            return out.replace("-0.00", "0.00") if float(out) == 0 else out

        if not np.isfinite(self.estimate):
            return "n/a"
        bounds = f"[{fmt(self.low)}, {fmt(self.high)}]" if self.defined else "[n/a]"
        return f"{fmt(self.estimate)} {bounds}"

    def describe(self, digits: int = 2, scale: float = 1.0) -> str:
        """'0.12 [0.05, 0.20] (95% t over 3 source models)', or the estimate with TOO_FEW."""
        if not np.isfinite(self.estimate):
            return "n/a"
        if not self.defined:
            return f"{self.text(digits, scale).removesuffix(' [n/a]')} ({TOO_FEW}, n={self.n})"
        return f"{self.text(digits, scale)} ({100 * self.level:g}% {self.method}, n={self.n})"


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) row indices drawn with replacement from one seeded Generator."""
    check_int_range("n_boot", n_boot, 1, 10**7)
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_interval(
    draws: np.ndarray, estimate: float, n: int, method: str, level: float = LEVEL
) -> Interval:
    """The (1 - level)/2 and (1 + level)/2 quantiles of the finite bootstrap draws."""
    draws = np.asarray(draws, dtype=np.float64)
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return Interval(estimate, float("nan"), float("nan"), n, method, level)
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(low), float(high), n, method, level)


def _weights(rows: np.ndarray, n: int) -> np.ndarray:
    """(B, n) multiplicities: how often each original pair appears in each resample."""
    b = len(rows)
    flat = (rows + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _tie_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, starts, group_of_sorted): the stable sort of ``values``, where each run of
    equal values begins in it, and each sorted position's run number."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    new_value = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    return order, np.flatnonzero(new_value), np.cumsum(new_value) - 1


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (scipy's ``rankdata``, "average")."""
    order, starts, _ = _tie_groups(values)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two non-constant vectors, with scipy's ``pearsonr`` arithmetic step for
    step (centred, scaled by the largest deviation before the norm, ``vecdot``, clipped to
    [-1, 1]), so its value is bit for bit scipy's."""
    xm, ym = x - x.mean(), y - y.mean()
    xmax, ymax = np.max(np.abs(xm)), np.max(np.abs(ym))
    normxm = xmax * np.linalg.vector_norm(xm / xmax)
    normym = ymax * np.linalg.vector_norm(ym / ymax)
    return float(np.clip(np.vecdot(xm / normxm, ym / normym), -1.0, 1.0))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho of two non-constant vectors: as scipy's ``spearmanr``, the correlation
    matrix (``np.corrcoef``) of their average ranks, bit for bit."""
    return float(np.corrcoef(np.vstack([average_ranks(x), average_ranks(y)]))[1, 0])


def correlation(kind: str, x: Sequence[float], y: Sequence[float]) -> float:
    """The one correlation of ForgeLens: Pearson or Spearman over the finite pairs of (x, y),
    NaN when fewer than 3 remain or a side is constant. Equal to scipy.stats' to the bit
    (tested), without its per-call overhead or its import."""
    check_choice("kind", kind, ("pearson", "spearman"))
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return pearson(x, y) if kind == "pearson" else spearman(x, y)


def _weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged, as scipy's rankdata) that each original value
    takes inside every resample given by ``weights`` (B, n), without sorting any resample:
    one sort of the originals, then cumulative sums of the multiplicities per tie group."""
    order, starts, group_of_sorted = _tie_groups(values)
    totals = np.add.reduceat(weights[:, order], starts, axis=1)  # (B, groups)
    average = np.cumsum(totals, axis=1) - (totals - 1.0) / 2.0
    group = np.empty(len(values), dtype=np.int64)
    group[order] = group_of_sorted
    return average[:, group]


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson r of each resample from per-original values x, y (B, n or n) and weights w."""
    total = w.sum(axis=1, keepdims=True)
    mx = (w * x).sum(axis=1, keepdims=True) / total
    my = (w * y).sum(axis=1, keepdims=True) / total
    xc, yc = x - mx, y - my
    denominator = np.sqrt((w * xc * xc).sum(axis=1) * (w * yc * yc).sum(axis=1))
    numerator = (w * xc * yc).sum(axis=1)
    # a resample with a constant side has no correlation (scipy: NaN); its centred sums are
    # rounding noise against the uncentred ones
    reference = np.sqrt((w * x * x).sum(axis=1) * (w * y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 1e-10 * reference, numerator / denominator, np.nan)


def resampled_correlations(kind: str, x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Pearson or Spearman (Pearson of average ranks) of (x[r], y[r]) for each row r of
    ``rows`` (B, n), computed from multiplicities: O(B n) work, no per-resample sort."""
    check_choice("kind", kind, ("pearson", "spearman"))
    return _resampled_from_weights(kind, x, y, _weights(rows, len(x)))


def _resampled_from_weights(kind: str, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``resampled_correlations`` given the resamples' multiplicities ``w`` (B, n)."""
    if kind == "spearman":
        return _weighted_pearson(_weighted_ranks(x, w), _weighted_ranks(y, w), w)
    return _weighted_pearson(x[None, :], y[None, :], w)


def correlation_interval(
    x: Sequence[float],
    y: Sequence[float],
    kind: str = "spearman",
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
    indices: np.ndarray | None = None,
    chunk: int = 250,
) -> Interval:
    """A correlation over pairs with a percentile bootstrap interval over those pairs.

    ``indices`` (B, n) replaces the seeded draws (tests pass every resample to compare with a
    brute-force enumeration). Work is ``chunk`` resamples at a time: memory chunk x n.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), n, "bootstrap over pairs")
    estimate = correlation(kind, x, y)
    rows = bootstrap_indices(n, n_boot, seed) if indices is None else np.asarray(indices)
    draws = np.concatenate(
        [
            resampled_correlations(kind, x, y, part)
            for part in np.array_split(rows, max(1, len(rows) // chunk))
        ]
    )
    return percentile_interval(draws, estimate, n, "bootstrap over pairs", level)


def correlation_intervals_shared(
    columns: Sequence[tuple[Sequence[float], Sequence[float]]],
    kinds: Sequence[str] = ("pearson", "spearman"),
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
    chunk: int = 250,
) -> list[dict[str, Interval]]:
    """``correlation_interval(x, y, kind, ...)`` for every (x, y) of ``columns`` and every kind,
    the same numbers to the bit, with one draw of the resample indices and one count of their
    multiplicities per chunk for all the columns of one length (a run's embedding spaces all
    pair the same unselected samples: 3 spaces x 2 kinds drew and counted them 6 times)."""
    out: list[dict[str, Interval]] = [{} for _ in columns]
    by_length: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for position, (x, y) in enumerate(columns):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
        n = len(x)
        if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            for kind in kinds:
                out[position][kind] = correlation_interval(x, y, kind)  # NaN, as it says
        else:
            by_length.setdefault(n, []).append((position, x, y))
    for n, group in by_length.items():
        rows = bootstrap_indices(n, n_boot, seed)
        draws: dict[tuple[int, str], list[np.ndarray]] = {}
        for part in np.array_split(rows, max(1, len(rows) // chunk)):
            w = _weights(part, n)
            for position, x, y in group:
                for kind in kinds:
                    check_choice("kind", kind, ("pearson", "spearman"))
                    draws.setdefault((position, kind), []).append(
                        _resampled_from_weights(kind, x, y, w)
                    )
        for position, x, y in group:
            for kind in kinds:
                out[position][kind] = percentile_interval(
                    np.concatenate(draws[(position, kind)]),
                    correlation(kind, x, y),
                    n,
                    "bootstrap over pairs",
                    level,
                )
    return out


def mean_interval(
    values: Sequence[float],
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
    indices: np.ndarray | None = None,
) -> Interval:
    """Mean of per-seed values with a percentile bootstrap interval over seeds (NaN bounds with
    fewer than 2 values). Too narrow at small n (about 74% coverage at n = 3, simulated in the
    tests): tables and pages use ``t_interval`` / ``nested_interval``."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, "bootstrap over seeds")
    if n < 2:
        return Interval(float(values[0]), float("nan"), float("nan"), 1, "bootstrap over seeds")
    rows = bootstrap_indices(n, n_boot, seed) if indices is None else np.asarray(indices)
    return percentile_interval(
        values[rows].mean(axis=1), float(values.mean()), n, "bootstrap over seeds", level
    )


def difference_interval(differences: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean of paired per-seed differences with a Student-t interval (NaN bounds below 2)."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, "paired t")
    mean = float(d.mean())
    if n < 2:
        return Interval(mean, float("nan"), float("nan"), 1, "paired t")
    from scipy import stats  # lazily: importing scipy.stats takes about a second

    half = float(stats.t.ppf((1 + level) / 2, n - 1) * d.std(ddof=1) / np.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, "paired t", level)


def t_interval(
    values: Sequence[float], level: float = LEVEL, method: str = "t over seeds"
) -> Interval:
    """Mean of finite ``values`` with a Student-t interval (NaN bounds below 2 values): exact
    coverage for normal values at any n >= 2, and honestly wide at n = 3 (t_0.975,2 = 4.3)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, method, level)
    mean = float(v.mean())
    if n < 2:
        return Interval(mean, float("nan"), float("nan"), 1, method, level)
    from scipy import stats  # lazily: importing scipy.stats takes about a second

    half = float(stats.t.ppf((1 + level) / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, method, level)


@dataclass(frozen=True)
class TwoLevel:
    """A per-run statistic over source models x selection seeds: the nested interval of its
    mean, the spread of the source-model means (``source_std``), the spread of selection seeds
    within one source model (pooled, ``seed_std``) and how many of each."""

    interval: Interval
    source_std: float
    seed_std: float
    n_sources: int
    n_runs: int


def nested_interval(
    values: Sequence[float], sources: Sequence[Any], level: float = LEVEL
) -> TwoLevel:
    """Two-level summary of ``values`` (one per run) grouped by source model ``sources``.

    With >= 2 source models: a t interval over the source-model means (each the mean of its
    seeds), n = number of source models. With one: a t interval over its selection seeds, named
    "given one source model" (it says nothing about another source model).
    """
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(v)
    if not keep.any():
        nan = float("nan")
        return TwoLevel(Interval(nan, nan, nan, 0, "t over seeds", level), nan, nan, 0, 0)
    v = v[keep]
    _, group = np.unique(
        np.asarray(list(sources), dtype=object)[keep].astype(str), return_inverse=True
    )
    sizes = np.bincount(group)
    means = np.bincount(group, weights=v) / sizes
    squares = np.bincount(group, weights=(v - means[group]) ** 2)
    dof = int((sizes - 1).sum())
    seed_std = float(np.sqrt(squares.sum() / dof)) if dof > 0 else float("nan")
    if len(means) >= 2:
        interval = t_interval(means, level, "t over source-model means")
        source_std = float(means.std(ddof=1))
    else:
        interval = t_interval(v, level, "t over seeds, given one source model")
        source_std = float("nan")
    return TwoLevel(interval, source_std, seed_std, len(means), len(v))


def verdict(interval: Interval) -> str:
    """'higher' / 'lower' when the interval excludes 0, else NOT_DISTINGUISHABLE."""
    if interval.includes_zero:
        return NOT_DISTINGUISHABLE
    return "higher" if interval.estimate > 0 else "lower"


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample std with ddof=1 (NaN for one value), number of finite values)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def paired_differences(
    table: pd.DataFrame, value: str, *, pair_on: Sequence[str], baseline: str = "random"
) -> pd.DataFrame:
    """Per-seed ``value`` minus the baseline method's ``value`` with the same ``pair_on``
    columns (e.g. experiment, budget, seed): a paired design, never a pooled baseline.

    Returns ``table``'s rows of non-baseline methods with a ``baseline_<value>`` and a
    ``difference`` column (NaN when that seed has no baseline run).
    """
    needed = ["method", value, *pair_on]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ForgeLensError(f"table lacks column(s) {missing}; it has {list(table.columns)}")
    base = table[table["method"] == baseline][[*pair_on, value]]
    if base.duplicated(list(pair_on)).any():
        raise ForgeLensError(
            f"baseline {baseline!r} has several rows per {list(pair_on)}; "
            "allowed: one baseline run per pairing key"
        )
    base = base.rename(columns={value: f"baseline_{value}"})
    out = table[table["method"] != baseline].merge(base, on=list(pair_on), how="left")
    out["difference"] = out[value] - out[f"baseline_{value}"]
    return out
