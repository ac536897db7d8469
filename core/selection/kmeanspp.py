"""k-means++ seeding (D^2 sampling, Arthur & Vassilvitskii 2007) on a factored embedding space.

Each new centre is drawn with probability proportional to w_i D(i)^2, D(i) being the distance
to the nearest centre chosen so far (w = 1 unless ``weights`` are given), among the unselected
points only (Ash et al. resample until an unselected point comes up: the same distribution).
Fallbacks, in order, when that total is 0: proportional to D^2 alone (weights given), then
uniform among the unselected, all with the one seeded generator. The first centre is ``first``
when given, else drawn proportionally to w (uniformly without weights).

BADGE (Ash et al. 2020, github.com/JordanAsh/badge ``init_centers``) seeds with the point of
largest gradient-embedding norm, ``argmax |g_i|``; the ``badge`` selector does the same and
``forge-kmeanspp`` uses the same rule on FORGE embeddings (argmax |phi_i| = argmax |z_i|);
ties go to the lowest index (numpy's argmax, as in Ash et al.).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.embeddings import EmbeddingSpace, PoolEmbedding
from core.selection.base import Selector, check_budget, check_seed
from core.validation import ForgeLensError, check_finite, check_int_range


def _check_weights(weights: Any, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ForgeLensError(f"weights has shape {w.shape}; allowed: ({n},), one per pool sample")
    check_finite("weights", w)
    if (w < 0).any():
        raise ForgeLensError(f"weights holds a negative value ({w.min():.3g}); allowed: >= 0")
    return w


def _draw(rng: np.random.Generator, mass: np.ndarray) -> int | None:
    """Index drawn with probability mass / mass.sum(), or None when the total mass is 0."""
    cumulative = np.cumsum(mass)
    total = cumulative[-1]
    if not total > 0:
        return None
    index = int(np.searchsorted(cumulative, rng.random() * total, side="right"))
    if index >= len(mass):  # rng.random() * total rounded up to total
        index = int(np.searchsorted(cumulative, total, side="left"))
    return index


def _draw_centre(rng: np.random.Generator, candidates: list[np.ndarray],
                 free: np.ndarray) -> int:
    """Draw from the first candidate mass (times the 0/1 ``free`` mask) with a positive total,
    else uniformly among the free points."""
    for mass in candidates:
        index = _draw(rng, mass * free)
        if index is not None:
            return index
    free_indices = np.flatnonzero(free)
    return int(free_indices[rng.integers(len(free_indices))])


def kmeanspp_seeding(space: EmbeddingSpace, budget: int, *, seed: int = 0,
                     first: int | None = None, weights: Any = None) -> np.ndarray:
    """``budget`` pool indices in selection order by (weighted) D^2 sampling."""
    n = space.n
    budget = check_budget(budget, n)
    rng = np.random.default_rng(check_seed(seed))
    w = _check_weights(weights, n)
    free = np.ones(n)  # 1.0 for unselected points, 0.0 once selected
    if first is None:
        first = _draw_centre(rng, [] if w is None else [w], free)
    current = check_int_range("first", first, 0, n - 1)
    picks = np.empty(budget, dtype=np.int64)
    picks[0] = current
    free[current] = 0.0
    min_sq = torch.full((n,), float("inf"), dtype=space.dtype, device=space.device)
    for step in range(1, budget):
        torch.minimum(min_sq, space.sq_dist_to(current), out=min_sq)
        d2 = min_sq.to(torch.float64).cpu().numpy()
        current = _draw_centre(rng, [d2] if w is None else [w * d2, d2], free)
        picks[step] = current
        free[current] = 0.0
    return picks


def largest_norm_index(space: EmbeddingSpace) -> int:
    """Index of the largest embedding norm, ties to the lowest index (Ash et al.'s first centre)."""
    return int(np.argmax(space.sq_norms().to(torch.float64).cpu().numpy()))


class KMeansPPSelector(Selector):
    """k-means++ seeding in the space named ``space``, first centre = largest norm (Ash et al.)."""

    name = "kmeanspp"

    def __init__(self, space: str) -> None:
        self.space = space

    def _select(self, pool: PoolEmbedding, budget: int, seed: int) -> np.ndarray:
        space = pool.space(self.space)
        return kmeanspp_seeding(space, budget, seed=seed, first=largest_norm_index(space))


class BadgeSelector(KMeansPPSelector):
    """BADGE: k-means++ seeding on last-layer gradient embeddings with pseudo-labels."""

    name = "badge"

    def __init__(self, space: str = "badge") -> None:
        super().__init__(space)


class ForgeKMeansPPSelector(KMeansPPSelector):
    """FORGE embeddings with k-means++ seeding."""

    name = "forge-kmeanspp"

    def __init__(self, space: str = "forge") -> None:
        super().__init__(space)
