"""Score-based selectors against direct references: margin, entropy, DUC, CLUE."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special, stats

from core import selection
from core.selection.duc import KAPPA, digamma_exp_plus_one, dirichlet_uncertainties
from core.selection.embeddings import PoolEmbedding


def _pool(seed: int, n: int = 80, d: int = 5, c: int = 4, scale: float = 2.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, c)) * scale


def test_margin_ranks_by_the_logit_gap_not_the_probability_gap() -> None:
    # A: logits gap 1.0, probability gap 0.46; B: logits gap 1.1, probability gap 0.40
    logits = np.array([[1.0, 0.0, -100.0], [1.1, 0.0, 0.0], [5.0, 0.0, 0.0]])
    z = np.eye(3)
    assert selection.select("margin", z, logits, 1)[0] == 0
    _, many = _pool(1)
    top2 = np.sort(many, axis=1)[:, -2:]
    expected = np.argsort(top2[:, 1] - top2[:, 0], kind="stable")[:10]
    np.testing.assert_array_equal(selection.select("margin", _pool(1)[0], many, 10), expected)


def test_entropy_ranks_by_predictive_entropy() -> None:
    z, logits = _pool(2)
    h = stats.entropy(special.softmax(logits, axis=1), axis=1)
    expected = np.argsort(-h, kind="stable")[:12]
    np.testing.assert_array_equal(selection.select("entropy", z, logits, 12), expected)


def _duc_reference(logits: np.ndarray, n_picks: int) -> np.ndarray:
    """The authors' formulas and two sorts, written directly (moderate logits only)."""
    alpha = np.exp(logits)
    total = alpha.sum(1, keepdims=True)
    p = alpha / total
    point_entropy = -(p * np.log(p + 1e-7)).sum(1)
    data = (p * (special.digamma(total + 1) - special.digamma(alpha + 1))).sum(1)
    distribution = point_entropy - data
    rows = sorted(range(len(logits)), key=lambda i: distribution[i], reverse=True)
    rows = rows[: math.ceil(n_picks * KAPPA)]
    rows = sorted(rows, key=lambda i: data[i], reverse=True)
    return np.array(rows[:n_picks])


def test_duc_matches_the_authors_two_round_rule() -> None:
    for seed in range(3):
        z, logits = _pool(seed, n=150, c=6, scale=3.0)
        for n_picks in (1, 10, 75, 150):
            np.testing.assert_array_equal(
                selection.select("duc", z, logits, n_picks), _duc_reference(logits, n_picks)
            )


def test_duc_is_finite_for_logits_whose_exp_overflows() -> None:
    x = np.array([25.0, 30.0, 35.0, 60.0])
    np.testing.assert_allclose(digamma_exp_plus_one(x), special.digamma(np.exp(x) + 1), rtol=1e-15)
    logits = np.array([[900.0, 0.0, -3.0], [2.0, 1.0, 0.0], [800.0, 799.0, 0.0]])
    distribution, data = dirichlet_uncertainties(logits)
    assert np.isfinite(distribution).all() and np.isfinite(data).all()
    picks = selection.select("duc", np.ones((3, 2)), logits, 3)
    assert sorted(picks.tolist()) == [0, 1, 2]


def test_clue_with_one_cluster_picks_the_sample_nearest_the_entropy_weighted_mean() -> None:
    rng = np.random.default_rng(4)
    z = rng.standard_normal((90, 3)) + np.array([4.0, 0.0, 0.0]) * (np.arange(90) % 3 == 0)[:, None]
    logits = rng.standard_normal((90, 4)) * 3
    logits[::2, 0] += 800.0  # half the pool is saturated: entropy 0, no pull on the centroid
    h = stats.entropy(special.softmax(logits, axis=1), axis=1)
    mean = (h[:, None] * z).sum(0) / h.sum()
    expected = int(np.argmin(((z - mean) ** 2).sum(1)))
    unweighted = int(np.argmin(((z - z.mean(0)) ** 2).sum(1)))
    assert expected != unweighted  # the weighting matters on this pool
    for seed in range(3):
        assert selection.select("clue", z, logits, 1, seed=seed)[0] == expected


def test_clue_picks_one_sample_per_well_separated_cluster() -> None:
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    z = np.repeat(centres, 20, axis=0) + rng.standard_normal((60, 2))
    logits = rng.standard_normal((60, 3))
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    for seed in range(5):
        picks = selection.select_from_pool("clue", pool, 3, seed=seed)
        assert sorted(picks // 20) == [0, 1, 2]
