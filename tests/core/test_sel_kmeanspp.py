"""k-means++ draws with D^2 (and w D^2) probabilities: chi-square tests over many seeds."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from core import selection
from core.selection import kmeanspp_seeding, largest_norm_index
from core.selection.embeddings import PoolEmbedding

# Five points on a line; the first centre is fixed at 0, so the second draw has
# P(i) = D(i)^2 / sum D^2 = [1, 4, 16, 49] / 70 over points 1..4.
LINE = np.array([[0.0], [1.0], [2.0], [4.0], [7.0]])
D2 = np.array([1.0, 4.0, 16.0, 49.0])
SEEDS = 3000


def _line_space():
    pool = PoolEmbedding.from_arrays(LINE, np.zeros((5, 2)), device="cpu", dtype=torch.float64)
    return pool.space("coreset")


def _second_picks(weights=None) -> np.ndarray:
    space = _line_space()
    picks = [kmeanspp_seeding(space, 2, seed=s, first=0, weights=weights)[1] for s in range(SEEDS)]
    return np.bincount(picks, minlength=5)


def test_second_centre_follows_d_squared_not_uniform_or_greedy() -> None:
    counts = _second_picks()
    assert counts[0] == 0  # the chosen centre is never drawn again
    observed = counts[1:]
    assert stats.chisquare(observed, SEEDS * D2 / D2.sum()).pvalue > 1e-3
    # the same counts reject the implementations this test is meant to catch
    assert stats.chisquare(observed, np.full(4, SEEDS / 4)).pvalue < 1e-12  # uniform
    assert observed[3] < SEEDS and observed[:3].sum() > 0.2 * SEEDS  # greedy farthest point
    assert stats.chisquare(observed, SEEDS * np.sqrt(D2) / np.sqrt(D2).sum()).pvalue < 1e-12  # D


def test_weighted_draws_follow_w_times_d_squared() -> None:
    weights = np.array([1.0, 3.0, 1.0, 0.5, 0.1])
    counts = _second_picks(weights)
    mass = weights[1:] * D2
    assert counts[0] == 0
    assert stats.chisquare(counts[1:], SEEDS * mass / mass.sum()).pvalue > 1e-3
    assert stats.chisquare(counts[1:], SEEDS * D2 / D2.sum()).pvalue < 1e-12
    # without ``first`` the first centre is drawn proportionally to the weights
    space = _line_space()
    firsts = np.bincount(
        [kmeanspp_seeding(space, 1, seed=s, weights=weights)[0] for s in range(SEEDS)], minlength=5
    )
    assert stats.chisquare(firsts, SEEDS * weights / weights.sum()).pvalue > 1e-3


def test_badge_seeds_with_the_largest_gradient_norm() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, 6))
    logits = rng.standard_normal((50, 3)) * 2
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    g_norm = np.linalg.norm(pool.residual, axis=1) * np.linalg.norm(z, axis=1)
    assert largest_norm_index(pool.space("badge")) == int(np.argmax(g_norm))
    assert largest_norm_index(pool.space("forge")) == int(np.argmax(np.linalg.norm(z, axis=1)))
    for seed in range(3):
        assert selection.select_from_pool("badge", pool, 5, seed=seed)[0] == np.argmax(g_norm)
        assert selection.select_from_pool("forge-kmeanspp", pool, 5, seed=seed)[0] == np.argmax(
            np.linalg.norm(z, axis=1)
        )
