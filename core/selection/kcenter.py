"""k-center greedy (Sener & Savarese 2018; FORGE Algorithm 1) on a factored embedding space.

The first centre is drawn uniformly with the seeded generator (Algorithm 1, line 2) unless
``first`` is given. Each later step keeps a running min-distance vector and updates it with the
one new centre: one pass over z and one over the left factor (N (C + D) floats read), then the
farthest point becomes the next centre. Already-selected points are masked out (-inf) and ties
go to the lowest index, so a pool of identical points yields the lowest unselected indices.
The first k picks of a run equal the run with budget k (prefix consistency).
"""

from __future__ import annotations

import numpy as np
import torch

from core.embeddings import EmbeddingSpace, PoolEmbedding
from core.selection.base import Selector, check_budget, check_seed
from core.validation import check_int_range


def kcenter_greedy(space: EmbeddingSpace, budget: int, *, seed: int = 0,
                   first: int | None = None) -> np.ndarray:
    """``budget`` pool indices in selection order, greedily maximising the min distance."""
    n = space.n
    budget = check_budget(budget, n)
    seed = check_seed(seed)
    if first is None:
        first = int(np.random.default_rng(seed).integers(n))
    first = check_int_range("first", first, 0, n - 1)
    picks = np.empty(budget, dtype=np.int64)
    picks[0] = current = first
    min_sq = torch.full((n,), float("inf"), dtype=space.dtype, device=space.device)
    for step in range(1, budget):
        torch.minimum(min_sq, space.sq_dist_to(current), out=min_sq)
        min_sq[current] = float("-inf")
        current = int(torch.argmax(min_sq))  # first maximum: lowest index on ties
        picks[step] = current
    return picks


class KCenterSelector(Selector):
    """k-center greedy in the embedding space named ``space``."""

    name = "kcenter"

    def __init__(self, space: str) -> None:
        self.space = space

    def _select(self, pool: PoolEmbedding, budget: int, seed: int) -> np.ndarray:
        return kcenter_greedy(pool.space(self.space), budget, seed=seed)


class CoresetSelector(KCenterSelector):
    """CORESET: k-center greedy on penultimate features z."""

    name = "coreset"

    def __init__(self, space: str = "coreset") -> None:
        super().__init__(space)


class ForgeSelector(KCenterSelector):
    """FORGE: k-center greedy on feature-norm scaled gradient embeddings."""

    name = "forge"

    def __init__(self, space: str = "forge") -> None:
        super().__init__(space)
