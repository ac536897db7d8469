"""Display-side aggregates against brute-force references and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from core.base.validation import ForgeLensError
from dashboard import stats


def test_correlation_matches_scipy_and_drops_non_finite() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = 0.5 * x + rng.normal(size=200)
    x_bad = np.append(x, [np.nan, 1.0])
    y_bad = np.append(y, [1.0, np.inf])
    result = stats.correlation(x_bad, y_bad)
    assert result.n == 200
    assert result.pearson == pytest.approx(sps.pearsonr(x, y)[0], abs=1e-12)
    assert result.spearman == pytest.approx(sps.spearmanr(x, y)[0], abs=1e-12)
    assert f"{result.pearson:.2f}" in result.label()
    assert "Pearson r = 0.00" in stats.Correlation(-0.001, 0.5, 10).label()  # never "-0.00"


def test_spearman_ranks_ties_as_scipy_does() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, size=300).astype(float)  # many ties on both sides
    y = x + rng.integers(0, 3, size=300)
    result = stats.correlation(x, y)
    assert result.spearman == pytest.approx(sps.spearmanr(x, y)[0], abs=1e-12)
    assert result.pearson == pytest.approx(sps.pearsonr(x, y)[0], abs=1e-12)
    assert (
        stats.correlation(x, -x).pearson == sps.pearsonr(x, -x)[0] == pytest.approx(-1, abs=1e-15)
    )


def test_correlation_is_nan_when_undefined() -> None:
    assert np.isnan(stats.correlation([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]).pearson)
    assert np.isnan(stats.correlation([1.0, 2.0], [2.0, 1.0]).spearman)
    assert "n/a" in stats.correlation([1.0, 2.0], [2.0, 1.0]).label()


def test_binned_mean_equals_brute_force_quantile_bins() -> None:
    rng = np.random.default_rng(1)
    x = rng.exponential(size=503)
    y = x**2 + rng.normal(size=503)
    bins = 7
    trend = stats.binned_mean(x, y, bins)
    edges = np.quantile(x, np.linspace(0, 1, bins + 1))
    expected_x, expected_y, expected_n = [], [], []
    for b in range(bins):
        upper = x <= edges[b + 1] if b == bins - 1 else x < edges[b + 1]
        mask = (x >= edges[b]) & upper
        expected_x.append(x[mask].mean())
        expected_y.append(y[mask].mean())
        expected_n.append(mask.sum())
    np.testing.assert_allclose(trend["x"], expected_x)
    np.testing.assert_allclose(trend["y"], expected_y)
    assert trend["n"].tolist() == expected_n
    assert trend["n"].sum() == len(x)


def test_binned_mean_constant_x_and_bad_bins() -> None:
    trend = stats.binned_mean(np.ones(5), np.arange(5.0), 4)
    assert len(trend) == 1 and trend["y"].iloc[0] == pytest.approx(2.0)
    with pytest.raises(ForgeLensError, match="bins"):
        stats.binned_mean(np.ones(5), np.ones(5), 0)


def _random_selections(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for method in ("random", "badge", "forge"):
        for seed in (0, 1, 2):
            if method == "forge" and seed == 2:
                continue  # a seed one selector lacks is skipped for that pair
            picks = rng.choice(30, size=8, replace=False)
            rows += [{"method": method, "seed": seed, "idx": int(i)} for i in picks]
    return pd.DataFrame(rows)


def test_jaccard_matrix_equals_python_sets() -> None:
    selections = _random_selections(np.random.default_rng(2))
    matrix = stats.jaccard_matrix(selections)
    assert list(matrix.index) == ["random", "badge", "forge"]
    np.testing.assert_allclose(matrix.to_numpy(), matrix.to_numpy().T)
    np.testing.assert_allclose(np.diag(matrix.to_numpy()), 1.0)
    for a in matrix.index:
        for b in matrix.columns:
            if a == b:
                continue
            scores = []
            for seed in (0, 1, 2):
                sa = set(selections[(selections.method == a) & (selections.seed == seed)].idx)
                sb = set(selections[(selections.method == b) & (selections.seed == seed)].idx)
                if sa and sb:
                    scores.append(len(sa & sb) / len(sa | sb))
            assert matrix.loc[a, b] == pytest.approx(np.mean(scores))


def test_class_histogram_fractions() -> None:
    selections = pd.DataFrame(
        {"method": ["a"] * 6, "seed": [0, 0, 0, 1, 1, 1], "label": [0, 0, 1, 2, 2, 2]}
    )
    histogram = stats.class_histogram(selections, [0, 1, 1, 2], n_classes=3)
    pool = histogram[histogram["method"] == "pool"]["fraction"].to_numpy()
    np.testing.assert_allclose(pool, [0.25, 0.5, 0.25])
    a = histogram[histogram["method"] == "a"]["fraction"].to_numpy()
    np.testing.assert_allclose(a, [(2 / 3 + 0) / 2, (1 / 3 + 0) / 2, (0 + 1) / 2])
    assert histogram.groupby("method")["fraction"].sum().to_numpy() == pytest.approx(1.0)


def test_class_coverage_equals_brute_force() -> None:
    rng = np.random.default_rng(3)
    pairs = pd.DataFrame(
        {
            "method": rng.choice(["x", "y"], 300),
            "seed": rng.integers(0, 2, 300),
            "space": rng.choice(["badge", "forge"], 300),
            "label": rng.integers(0, 3, 300),
            "nn_label": rng.integers(0, 3, 300),
        }
    )
    table = stats.class_coverage(pairs, "forge")
    for row in table.itertuples():
        per_seed = []
        for seed in (0, 1):
            part = pairs[
                (pairs.method == row.method)
                & (pairs.seed == seed)
                & (pairs.space == "forge")
                & (pairs.label == row.label)
            ]
            if len(part):
                per_seed.append((part.label == part.nn_label).mean())
        assert row.coverage == pytest.approx(np.mean(per_seed))
    assert stats.class_coverage(pairs, "coreset").empty
    with pytest.raises(ForgeLensError, match="nn_label"):
        stats.class_coverage(pairs.drop(columns="nn_label"), "forge")


def test_selected_keys_reads_dict_and_attribute_events() -> None:
    class Event:
        selection = {
            "points": [{"customdata": 4}, {"customdata": [7, "x"]}, {"x": 1.0}, {"customdata": 4}]
        }

    assert stats.selected_keys(Event()) == [4, 7]
    typed_rows = {"points": [{"customdata": {"0": 2852, "1": 2}}, {"customdata": {"0": 9}}]}
    assert stats.selected_keys({"selection": typed_rows}) == [2852, 9]  # as Chromium sends them
    assert stats.selected_keys({"selection": {"points": []}}) == []
    assert stats.selected_keys(None) == []


def test_with_pool_columns_keeps_order_and_rejects_duplicates() -> None:
    frame = pd.DataFrame({"idx": [2, 0, 2], "method": ["a", "a", "b"]})
    pool = pd.DataFrame({"idx": [0, 1, 2], "label": [5, 6, 7]})
    assert stats.with_pool_columns(frame, pool)["label"].tolist() == [7, 5, 7]
    with pytest.raises(pd.errors.MergeError):
        stats.with_pool_columns(frame, pd.concat([pool, pool]))


def test_thinned_rows_keeps_every_large_value_and_a_fixed_sample() -> None:
    values = np.random.default_rng(3).exponential(size=1000)
    np.testing.assert_array_equal(stats.thinned_rows(values, None), np.arange(1000))
    np.testing.assert_array_equal(stats.thinned_rows(values, 1000), np.arange(1000))
    kept = stats.thinned_rows(values, 200)
    assert len(kept) == 200 and len(set(kept)) == 200 and (np.diff(kept) > 0).all()
    largest = np.argsort(-values)[:50]  # a quarter of the limit: the largest values, all kept
    assert set(largest) <= set(kept)
    np.testing.assert_array_equal(kept, stats.thinned_rows(values, 200))  # same view, same points
    with pytest.raises(ForgeLensError, match="limit"):
        stats.thinned_rows(values, 0)


def _pairs_of_runs(rng: np.random.Generator, runs: list[tuple[int, int]]) -> pd.DataFrame:
    frames = []
    for source, seed in runs:
        distance = rng.normal(size=60)
        gap = (0.2 * source - 0.1) * distance + rng.normal(size=60)
        frames.append(
            pd.DataFrame({"source_seed": source, "seed": seed, "distance": distance, "gap": gap})
        )
    return pd.concat(frames, ignore_index=True)


def test_seed_interval_text_is_a_t_interval_over_seeds_or_source_models() -> None:
    rng = np.random.default_rng(5)
    one = _pairs_of_runs(rng, [(0, 0), (0, 1), (0, 2)])
    rho = [sps.spearmanr(g["distance"], g["gap"])[0] for _, g in one.groupby("seed")]
    low, high = sps.t.interval(0.95, 2, loc=np.mean(rho), scale=sps.sem(rho))
    text = stats.seed_interval_text(one, "distance")
    assert text == (
        "ρ by seed "
        + " ".join(f"{v:+.2f}" for v in rho)
        + f" · mean {np.mean(rho):.2f} [{low:.2f}, {high:.2f}] (95% t, n=3)"
    )
    two = _pairs_of_runs(rng, [(s, k) for s in (0, 1, 2) for k in (0, 1)])
    per_run = {
        key: sps.spearmanr(g["distance"], g["gap"])[0]
        for key, g in two.groupby(["source_seed", "seed"])
    }
    means = [np.mean([per_run[(s, 0)], per_run[(s, 1)]]) for s in (0, 1, 2)]
    low, high = sps.t.interval(0.95, 2, loc=np.mean(means), scale=sps.sem(means))
    text = stats.seed_interval_text(two, "distance")
    assert text.startswith("ρ per source model " + " ".join(f"{v:+.2f}" for v in means))
    assert text.endswith(f"[{low:.2f}, {high:.2f}] (95% t, n=3 src)")
    single = stats.seed_interval_text(one[one["seed"] == 0], "distance")
    assert single.endswith("too few seeds for an interval")


def test_jaccard_never_mixes_two_source_models_with_the_same_seed() -> None:
    selections = pd.DataFrame(
        {
            "method": ["a", "a", "b", "b", "a", "a", "b", "b"],
            "source_seed": [0, 0, 0, 0, 1, 1, 1, 1],
            "seed": [0] * 8,
            "idx": [1, 2, 1, 2, 3, 4, 5, 6],
        }
    )
    # source model 0: identical picks (1.0); source model 1: disjoint (0.0); mean 0.5
    assert stats.jaccard_matrix(selections).loc["a", "b"] == pytest.approx(0.5)
