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

from core.base.validation import ForgeLensError, check_finite, check_int_range
from core.selection.base import Selector, check_n_picks, check_seed
from core.selection.embeddings import EmbeddingSpace, PoolEmbedding


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


def _draw_centre(rng: np.random.Generator, candidates: list[np.ndarray], free: np.ndarray) -> int:
    """Draw from the first candidate mass (times the 0/1 ``free`` mask) with a positive total,
    else uniformly among the free points."""
    for mass in candidates:
        index = _draw(rng, mass * free)
        if index is not None:
            return index
    free_indices = np.flatnonzero(free)
    return int(free_indices[rng.integers(len(free_indices))])


def _draw_device(
    rng: np.random.Generator, candidates: list[torch.Tensor], free: torch.Tensor
) -> int:
    """``_draw_centre`` on device tensors: the cumulative sum is a parallel scan in float64, so
    the index can differ from the CPU's only when the uniform draw lands within rounding of a
    boundary between two points; the generator's stream is the same."""
    for mass in candidates:
        cumulative = torch.cumsum(mass * free, dim=0)
        total = float(cumulative[-1])
        if not total > 0:
            continue
        target = torch.tensor(
            [rng.random() * total], dtype=cumulative.dtype, device=cumulative.device
        )
        index = int(torch.searchsorted(cumulative, target, right=True))
        if index >= len(mass):
            index = int(torch.searchsorted(cumulative, cumulative[-1:], right=False))
        return index
    free_indices = torch.nonzero(free).squeeze(1)
    return int(free_indices[int(rng.integers(len(free_indices)))])


def kmeanspp_seeding(
    space: EmbeddingSpace,
    n_picks: int,
    *,
    seed: int = 0,
    first: int | None = None,
    weights: Any = None,
) -> np.ndarray:
    """``n_picks`` pool indices in selection order by (weighted) D^2 sampling.

    On CPU the running minimum and the draw are numpy (float64 masses, as always); on a GPU they
    stay on the device (``_draw_device``): only the picked index leaves it.
    """
    n = space.n
    n_picks = check_n_picks(n_picks, n)
    rng = np.random.default_rng(check_seed(seed))
    w = _check_weights(weights, n)
    free = np.ones(n)  # 1.0 for unselected points, 0.0 once selected
    if first is None:
        first = _draw_centre(rng, [] if w is None else [w], free)
    current = check_int_range("first", first, 0, n - 1)
    picks = np.empty(n_picks, dtype=np.int64)
    picks[0] = current
    free[current] = 0.0
    if space.host_steps:
        min_sq = np.full(
            n, np.inf, dtype=np.float32 if space.dtype == torch.float32 else np.float64
        )
        for step in range(1, n_picks):
            np.minimum(min_sq, space.sq_dist_to(current).numpy(), out=min_sq)
            d2 = min_sq.astype(np.float64)
            current = _draw_centre(rng, [d2] if w is None else [w * d2, d2], free)
            picks[step] = current
            free[current] = 0.0
        return picks
    device = space.device
    free_t = torch.as_tensor(free, device=device)
    w_t = None if w is None else torch.as_tensor(w, device=device)
    min_sq_t = torch.full((n,), float("inf"), dtype=space.dtype, device=device)
    for step in range(1, n_picks):
        torch.minimum(min_sq_t, space.sq_dist_to(current), out=min_sq_t)
        d2_t = min_sq_t.to(torch.float64)
        current = _draw_device(rng, [d2_t] if w_t is None else [w_t * d2_t, d2_t], free_t)
        picks[step] = current
        free_t[current] = 0.0
    return picks


def largest_norm_index(space: EmbeddingSpace) -> int:
    """Index of the largest embedding norm, ties to the lowest index (Ash et al.'s first centre)."""
    return int(np.argmax(space.sq_norms().to(torch.float64).cpu().numpy()))


class KMeansPPSelector(Selector):
    """k-means++ seeding in the space named ``space``, first centre = largest norm (Ash et al.)."""

    name = "kmeanspp"

    def __init__(self, space: str) -> None:
        self.space = space

    def _select(self, pool: PoolEmbedding, n_picks: int, seed: int) -> np.ndarray:
        space = pool.space(self.space)
        return kmeanspp_seeding(space, n_picks, seed=seed, first=largest_norm_index(space))


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
