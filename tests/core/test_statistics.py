"""Bootstrap intervals against brute-force resampling, paired differences, and the verdict."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.base.statistics import (
    NOT_DISTINGUISHABLE,
    TOO_FEW,
    average_ranks,
    bootstrap_indices,
    correlation,
    correlation_interval,
    correlation_intervals_shared,
    difference_interval,
    mean_interval,
    mean_std,
    nested_interval,
    paired_differences,
    pearson,
    t_interval,
    verdict,
)
from core.base.validation import ForgeLensError


def _every_resample(n: int) -> np.ndarray:
    return np.array(list(itertools.product(range(n), repeat=n)))


def test_mean_interval_over_every_resample_equals_brute_force():
    values = np.array([0.61, 0.58, 0.70, 0.66, 0.52])
    every = _every_resample(len(values))  # all 5^5 = 3125 resamples, each once
    exact = mean_interval(values, indices=every)
    brute = [np.mean([values[i] for i in row]) for row in every]
    low, high = np.quantile(brute, [0.025, 0.975])
    assert (exact.low, exact.high) == pytest.approx((low, high), abs=1e-12)
    # the seeded Monte-Carlo bootstrap converges to that exact bootstrap distribution
    approx = mean_interval(values, n_boot=20000, seed=1)
    assert approx.low == pytest.approx(low, abs=0.006)
    assert approx.high == pytest.approx(high, abs=0.006)
    assert approx.estimate == pytest.approx(values.mean())


@pytest.mark.parametrize("kind", ["pearson", "spearman"])
def test_correlation_interval_equals_a_loop_of_scipy_over_the_same_resamples(kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = 0.5 * x + rng.normal(size=40)
    y[:5] = y[5]  # ties, so Spearman must use average ranks
    rows = bootstrap_indices(40, 300, seed=4)
    fast = correlation_interval(x, y, kind, indices=rows, chunk=64)
    test = stats.pearsonr if kind == "pearson" else stats.spearmanr
    loop = [test(x[r], y[r])[0] for r in rows]
    low, high = np.quantile(loop, [0.025, 0.975])
    assert (fast.low, fast.high) == pytest.approx((low, high), rel=1e-9, abs=1e-12)
    assert fast.estimate == pytest.approx(test(x, y)[0], rel=1e-12)
    again = correlation_interval(x, y, kind, n_boot=300, seed=4)
    assert (again.low, again.high) == (fast.low, fast.high)  # deterministic per seed


def test_correlation_interval_of_an_exhaustive_small_case():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([1.2, 1.9, 3.5, 3.1, 5.4])
    every = _every_resample(5)
    fast = correlation_interval(x, y, "pearson", indices=every)
    brute = []
    for row in every:
        xs, ys = x[row], y[row]
        if np.ptp(xs) > 0 and np.ptp(ys) > 0:  # constant resamples have no correlation
            brute.append(np.corrcoef(xs, ys)[0, 1])
    assert (fast.low, fast.high) == pytest.approx(tuple(np.quantile(brute, [0.025, 0.975])))


def test_undefined_cases_give_nan_not_a_number_that_looks_real():
    assert np.isnan(correlation_interval([1, 1, 1, 1], [1, 2, 3, 4]).estimate)
    one = mean_interval([0.4])
    assert one.estimate == 0.4 and not one.defined and one.includes_zero
    assert verdict(difference_interval([0.05])) == NOT_DISTINGUISHABLE
    assert mean_std([0.3]) == (0.3, pytest.approx(np.nan, nan_ok=True), 1)


def test_difference_interval_is_the_paired_t_interval_and_drives_the_verdict():
    d = np.array([0.02, 0.03, 0.025, 0.035])
    interval = difference_interval(d)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert (interval.low, interval.high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert verdict(interval) == "higher"
    assert verdict(difference_interval(-d)) == "lower"
    # the seed-to-seed sign flips of issue 11 (-0.38, +0.32, -0.62): not distinguishable
    assert verdict(difference_interval([-0.38, 0.32, -0.62])) == NOT_DISTINGUISHABLE


def test_paired_differences_pair_by_seed_never_by_pooled_means():
    table = pd.DataFrame(
        {
            "method": ["random"] * 3 + ["forge"] * 2,
            "experiment": "e",
            "budget": 0.1,
            "seed": [0, 1, 2, 0, 2],
            "accuracy": [0.5, 0.9, 0.6, 0.55, 0.65],
        }
    )
    out = paired_differences(table, "accuracy", pair_on=("experiment", "budget", "seed"))
    assert out["difference"].tolist() == pytest.approx([0.05, 0.05])
    # a pooled comparison would give mean(forge) - mean(random) = 0.6 - 0.667 < 0
    twice = pd.concat([table, table.iloc[:1]])
    with pytest.raises(ForgeLensError, match="one baseline run per pairing key"):
        paired_differences(twice, "accuracy", pair_on=("experiment", "budget", "seed"))


def test_average_ranks_and_pearson_match_scipy() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 6, size=400).astype(float)  # ties everywhere
    y = x + rng.normal(size=400)
    np.testing.assert_array_equal(average_ranks(x), stats.rankdata(x))
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    rho = pearson(average_ranks(x), average_ranks(y))
    assert rho == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)


def test_the_one_correlation_is_scipys_to_the_bit() -> None:
    """Records, tables and pages all use ``correlation``; it must give scipy's exact numbers
    (the records written before it used scipy), ties, scales and short vectors included."""
    rng = np.random.default_rng(3)
    for trial in range(200):
        n = int(rng.integers(3, 300))
        x = rng.normal(size=n) * 10.0 ** rng.integers(-6, 6)
        y = rng.integers(0, 5, size=n) + (trial % 3) * x * rng.normal()
        for kind, reference in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
            assert correlation(kind, x, y) == float(reference(x, y)[0]), (trial, kind)
    assert np.isnan(correlation("spearman", [1.0, 2.0], [3.0, 4.0]))  # fewer than 3
    assert np.isnan(correlation("pearson", [1.0, 1.0, 1.0], [3.0, 4.0, 5.0]))  # constant side
    finite = correlation("pearson", [1.0, np.nan, 2.0, 3.0], [1.0, 5.0, 2.0, 3.0])
    assert finite == float(stats.pearsonr([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])[0])  # NaN pair left out
    with pytest.raises(ForgeLensError, match="kind='kendall'"):
        correlation("kendall", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])


def test_t_interval_covers_95_percent_at_three_seeds_and_the_bootstrap_does_not():
    """Item 5 of issue 24: 2000 normal samples of n = 3; the t interval covers the true mean
    about 95% of the time, the percentile bootstrap over the 3 values far less (why tables use
    the t interval)."""
    rng = np.random.default_rng(7)
    samples = rng.normal(0.3, 0.2, size=(2000, 3))
    t_hits = [(i := t_interval(row)).low <= 0.3 <= i.high for row in samples]
    boot_hits = [
        (i := mean_interval(row, n_boot=400, seed=k)).low <= 0.3 <= i.high
        for k, row in enumerate(samples)
    ]
    assert 0.93 <= np.mean(t_hits) <= 0.97
    assert np.mean(boot_hits) < 0.85
    one = t_interval([0.4])
    assert not one.defined and one.n == 1 and TOO_FEW in one.describe()
    assert "95% t over seeds, n=3" in t_interval(samples[0]).describe()


def test_nested_interval_covers_with_a_dominant_source_model_effect_where_pooling_fails():
    """3 source models x 3 selection seeds, source-model effect sd 0.3 and seed noise sd 0.1:
    the t interval over source-model means covers about 95%; a t interval over the 9 runs as if
    independent covers far less (it hides the larger source of variation)."""
    rng = np.random.default_rng(3)
    sources = np.repeat([0, 1, 2], 3)
    nested_hits, pooled_hits = [], []
    for _ in range(2000):
        values = 0.3 + np.repeat(rng.normal(0, 0.3, 3), 3) + rng.normal(0, 0.1, 9)
        two = nested_interval(values, sources)
        nested_hits.append(two.interval.low <= 0.3 <= two.interval.high)
        pooled = t_interval(values)
        pooled_hits.append(pooled.low <= 0.3 <= pooled.high)
    assert 0.93 <= np.mean(nested_hits) <= 0.97
    assert np.mean(pooled_hits) < 0.85
    values = np.array([0.1, 0.2, 0.3, 0.5, 0.7, 0.6, -0.1, 0.0, 0.2])
    two = nested_interval(values, sources)
    means = values.reshape(3, 3).mean(axis=1)
    assert two.interval.estimate == pytest.approx(means.mean())
    assert two.source_std == pytest.approx(means.std(ddof=1))
    assert two.seed_std == pytest.approx(np.sqrt(values.reshape(3, 3).var(axis=1, ddof=1).mean()))
    assert (two.n_sources, two.n_runs, two.interval.n) == (3, 9, 3)
    assert two.interval.method == "t over source-model means"
    one = nested_interval(values[:3], sources[:3])
    assert one.interval.method == "t over seeds, given one source model"
    assert one.interval.n == 3 and np.isnan(one.source_std)


def test_shared_correlation_intervals_equal_one_interval_per_column_to_the_bit():
    """One draw of the resamples for all the columns of one length (a run's spaces) must give
    every column exactly its own ``correlation_interval``: the records stay the same."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 40))
    y = x + rng.normal(size=(3, 40))
    with_nan = (np.r_[x[0, :30], np.nan, x[0, 31:]], y[0])  # 39 finite pairs: its own draw
    ties = (np.round(x[1], 1), np.round(y[1]))  # ties: the Spearman ranks average them
    constant = (np.ones(40), y[2])
    columns = [(x[0], y[0]), with_nan, ties, (x[2], y[2]), constant]
    shared = correlation_intervals_shared(columns, n_boot=300, seed=5, chunk=64)
    for (cx, cy), intervals in zip(columns, shared, strict=True):
        assert list(intervals) == ["pearson", "spearman"]
        for kind, interval in intervals.items():
            alone = correlation_interval(cx, cy, kind, n_boot=300, seed=5, chunk=64)
            assert repr(interval) == repr(alone)  # every field, to the bit (NaN included)
    assert np.isfinite(shared[0]["spearman"].low) and np.isnan(shared[-1]["pearson"].estimate)
